"""Regenerates the demo's settlement month: demo/settlements.csv (UTF-8, platform field names) and
demo/fee_lines.csv (GB18030, Chinese headers, as many bureau exports are).

Billed on 2026-11-02 at H43060200175, against demo/sightings.jsonl: ...01 dialysis (seen 4 h),
...02 haemodiafiltration (seen 3 h 35 min), ...03 dialysis (seen 1 h: too short), ...04 dialysis (never
seen, and an unknown face sat through the session: impersonation), ...06 dialysis (never seen: a fake
patient), and ...05 dialysis on 2026-11-03, when the ward box sent nothing (no evidence).
The item codes are the knowledge base's EXAMPLE codes. Run: python3 demo/make_settlements.py
"""
import os

here = os.path.dirname(__file__)
P = "430600000000000000"
rows = [
    # who, day, code, name, amount
    ("01", "02", "EXAMPLE-311000006", "血液透析", "410.00"),
    ("02", "02", "EXAMPLE-311000009", "血液透析滤过", "520.50"),
    ("03", "02", "EXAMPLE-311000006", "血液透析", "410.00"),
    ("04", "02", "EXAMPLE-311000006", "血液透析", "410.00"),
    ("05", "03", "EXAMPLE-311000006", "血液透析", "410.00"),
    ("06", "02", "EXAMPLE-311000006", "血液透析", "410.00"),
]
with open(os.path.join(here, "settlements.csv"), "w", encoding="utf-8", newline="") as f:
    f.write("setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,fixmedins_name,med_type,setl_time,"
            "medfee_sumamt,fund_pay_sumamt\n")
    for who, day, _, _, amount in rows:
        fund = f"{float(amount) * 0.8:.2f}"
        f.write(f"S2026110{who},M2026110{who},{P}{who},患者{who},H43060200175,示例血透中心,14,"
                f"2026-11-{day} 12:30:00,{amount},{fund}\n")
with open(os.path.join(here, "fee_lines.csv"), "w", encoding="gb18030", newline="") as f:
    f.write("费用明细流水号,就诊ID,人员编号,费用发生时间,医保目录编码,医保目录名称,数量,单价,明细项目费用总额\n")
    for who, day, code, name, amount in rows:
        f.write(f"FD2026110{who},M2026110{who},{P}{who},2026-11-{day} 08:05:00,{code},{name},1,{amount},{amount}\n")
