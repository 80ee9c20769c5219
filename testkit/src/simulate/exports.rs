//! The platform's exports of the month: one settlement file (platform field names, local times) for
//! every institution but the rehabilitation hospital, whose fee lines come with no settlement at all,
//! and one fee-line file per institution, each line with its own `fixmedins_code` and, for a linked
//! refund, its `init_feedetl_sn`; the rehabilitation hospital's file has Chinese headers.

use super::{BED_DAY, Builder, DIALYSIS, ExportFile, PHYSIO};
use chrono::TimeZone;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use wardwatch_protocol::WardKind;

const FEE_HEADER: &str = "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt,fixmedins_code,init_feedetl_sn";
const FEE_HEADER_ZH: &str = "费用明细流水号,就诊ID,人员编号,费用发生时间,医保目录编码,医保目录名称,数量,单价,明细项目费用总额,定点医药机构编号,原费用流水号";

fn local(ms: i64, zone: Tz) -> String {
    zone.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Items billed beside a session or bed-day on its encounter (drugs, consumables, tests), per ward kind:
/// (code, name, unit price in fen). None is in the knowledge base: the rules never judge them.
fn companion_items(ward: WardKind) -> &'static [(&'static str, &'static str, i64)] {
    match ward {
        WardKind::Haemodialysis => &[
            ("C14180200001", "一次性使用血液透析器", 16_800),
            ("C14180300002", "一次性使用血液透析管路", 6_500),
            ("XB01AB01", "肝素钠注射液", 1_235),
            ("XB05BB01", "0.9%氯化钠注射液", 386),
            ("XB03XA01", "重组人促红素注射液", 5_820),
            ("250101001", "血常规检查", 2_000),
            ("250301001", "肾功能检查", 3_500),
            ("XB03AC02", "蔗糖铁注射液", 9_600),
            ("311300001", "动静脉内瘘穿刺", 1_500),
        ],
        WardKind::Psychiatric => &[
            ("110900001", "精神科护理", 3_000),
            ("XN05AH04", "喹硫平片", 820),
            ("XN05AX08", "利培酮片", 640),
            ("311500002", "精神科监护", 3_000),
            ("XN06AB06", "舍曲林片", 450),
            ("311503001", "团体心理治疗", 2_500),
            ("250101001", "血常规检查", 2_000),
            ("120100001", "诊查费", 600),
            ("XA11CC05", "维生素D片", 120),
        ],
        _ => &[
            ("340100002", "康复评定", 3_000),
            ("340200004", "作业疗法", 3_800),
            ("340200025", "平衡功能训练", 2_200),
            ("340200027", "器械训练", 1_800),
            ("440000001", "中频脉冲电治疗", 1_600),
            ("440000017", "红外线治疗", 900),
            ("340200018", "言语训练", 2_800),
            ("120100001", "诊查费", 600),
            ("340200022", "吞咽功能障碍训练", 2_600),
        ],
    }
}

fn yuan(fen: i64) -> String {
    format!(
        "{}{}.{:02}",
        if fen < 0 { "-" } else { "" },
        fen.abs() / 100,
        fen.abs() % 100
    )
}

impl Builder {
    pub(super) fn exports(&mut self) {
        let no_settlements = self.inst[2].0.as_str();
        let mut settlements = String::from(
            "setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,med_type,setl_time,medfee_sumamt,fund_pay_sumamt,adm_time,dscg_time\n",
        );
        let mut fees: BTreeMap<&str, String> = BTreeMap::new();
        let mut order: Vec<usize> = (0..self.lines.len()).collect();
        order.sort_by_key(|i| (self.lines[*i].at, self.lines[*i].sn.clone()));
        let mut companions = 0u64;
        let mut per_encounter: BTreeMap<String, (String, String, i64, i64)> = BTreeMap::new();
        for i in order {
            let l = &self.lines[i];
            let Some(inst) = self
                .inst
                .iter()
                .map(|(code, _)| code.as_str())
                .find(|code| *code == l.institution)
            else {
                continue;
            };
            let file = fees.entry(inst).or_insert_with(|| {
                let header = if inst == no_settlements {
                    FEE_HEADER_ZH
                } else {
                    FEE_HEADER
                };
                format!("{header}\n")
            });
            let amount = l.price_fen * i64::from(l.cnt);
            let name = match l.code {
                DIALYSIS => "血液透析",
                PHYSIO => "运动疗法",
                BED_DAY => "精神科住院床日",
                _ => "康复训练",
            };
            let link = match &l.refunds {
                Some((sn, true)) => sn.as_str(),
                _ => "",
            };
            let _ = writeln!(
                file,
                "{},{},{},{},{},{name},{},{},{},{},{link}",
                l.sn,
                l.mdtrt_id,
                l.psn_no,
                local(l.at, self.zone),
                l.code,
                l.cnt,
                yuan(l.price_fen),
                yuan(amount),
                l.institution,
            );
            let mut amount = amount;
            if l.cnt > 0 && l.refund.is_none() {
                let items = companion_items(l.ward);
                for k in 0..self.spec.companions as usize {
                    let (code, name, price) = items[k % items.len()];
                    let _ = writeln!(
                        file,
                        "{}C{k},{},{},{},{code},{name},1,{},{},{},",
                        l.sn,
                        l.mdtrt_id,
                        l.psn_no,
                        local(l.at, self.zone),
                        yuan(price),
                        yuan(price),
                        l.institution,
                    );
                    amount += price;
                }
                companions += u64::from(self.spec.companions);
            }
            if l.institution == no_settlements {
                continue;
            }
            let entry = per_encounter.entry(l.mdtrt_id.clone()).or_insert((
                l.institution.clone(),
                l.psn_no.clone(),
                l.at,
                0,
            ));
            entry.2 = entry.2.max(l.at);
            entry.3 += amount;
        }
        for (mdtrt, (inst, psn, last, amount)) in per_encounter {
            let stay = self.stays.iter().find(|s| s.2 == mdtrt);
            let (med_type, adm, dscg) = match stay {
                Some((_, _, _, a, d)) => ("21", local(*a, self.zone), local(*d, self.zone)),
                None => ("11", String::new(), String::new()),
            };
            let amount = amount.max(0);
            let _ = writeln!(
                settlements,
                "S{mdtrt},{mdtrt},{psn},患者{},{inst},{med_type},{},{},{},{adm},{dscg}",
                &psn[psn.len() - 4..],
                local(last + 6 * 3_600_000, self.zone),
                yuan(amount),
                yuan(amount * 8 / 10),
            );
        }
        *self.month.counts.entry("companion lines").or_default() += companions;
        self.month.files.push(ExportFile {
            name: "settlements.csv".into(),
            text: settlements,
        });
        for (inst, text) in fees {
            self.month.files.push(ExportFile {
                name: format!("fee_lines_{inst}.csv"),
                text,
            });
        }
    }
}
