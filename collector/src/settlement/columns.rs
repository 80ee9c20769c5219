//! Column names: the national platform's interface field names and the usual Chinese headers, mapped to
//! one [`Field`] each, and the detection of what a file holds (settlements or fee lines).

use std::collections::HashMap;
use std::fmt;

/// A settlement-export field the importer understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    SetlId,
    MdtrtId,
    PsnNo,
    PsnName,
    Certno,
    FixmedinsCode,
    FixmedinsName,
    MedType,
    SetlTime,
    MedfeeSumamt,
    FundPaySumamt,
    AdmTime,
    DscgTime,
    WardareaCodg,
    Bedno,
    FeedetlSn,
    FeeOcurTime,
    HilistCode,
    HilistName,
    MedListCodg,
    Cnt,
    Pric,
    DetItemFeeSumamt,
    BilgDeptCodg,
    InitFeedetlSn,
}

/// (field, platform name, Chinese headers accepted for it).
const NAMES: &[(Field, &str, &[&str])] = &[
    (Field::SetlId, "setl_id", &["结算ID", "结算编号", "结算id"]),
    (
        Field::MdtrtId,
        "mdtrt_id",
        &["就诊ID", "就医登记号", "就诊编号", "就诊id"],
    ),
    (Field::PsnNo, "psn_no", &["人员编号", "个人编号"]),
    (Field::PsnName, "psn_name", &["人员姓名", "姓名"]),
    (
        Field::Certno,
        "certno",
        &["证件号码", "身份证号", "身份证号码"],
    ),
    (
        Field::FixmedinsCode,
        "fixmedins_code",
        &[
            "定点医药机构编号",
            "定点机构编码",
            "医药机构编码",
            "定点医药机构编码",
        ],
    ),
    (
        Field::FixmedinsName,
        "fixmedins_name",
        &["定点医药机构名称", "定点机构名称", "机构名称"],
    ),
    (Field::MedType, "med_type", &["医疗类别"]),
    (Field::SetlTime, "setl_time", &["结算时间"]),
    (
        Field::MedfeeSumamt,
        "medfee_sumamt",
        &["医疗费总额", "医疗费用总额"],
    ),
    (
        Field::FundPaySumamt,
        "fund_pay_sumamt",
        &["基金支付总额", "基金支付金额"],
    ),
    (Field::AdmTime, "adm_time", &["入院时间"]),
    (Field::DscgTime, "dscg_time", &["出院时间"]),
    (Field::WardareaCodg, "wardarea_codg", &["病区编码", "病区"]),
    (Field::Bedno, "bedno", &["床位号", "床号"]),
    (
        Field::FeedetlSn,
        "feedetl_sn",
        &["费用明细流水号", "明细流水号", "费用明细ID"],
    ),
    (Field::FeeOcurTime, "fee_ocur_time", &["费用发生时间"]),
    (
        Field::HilistCode,
        "hilist_code",
        &["医保目录编码", "医保项目编码"],
    ),
    (
        Field::HilistName,
        "hilist_name",
        &["医保目录名称", "医保项目名称"],
    ),
    (
        Field::MedListCodg,
        "med_list_codg",
        &["医药机构目录编码", "院内项目编码"],
    ),
    (Field::Cnt, "cnt", &["数量"]),
    (Field::Pric, "pric", &["单价"]),
    (
        Field::DetItemFeeSumamt,
        "det_item_fee_sumamt",
        &["明细项目费用总额", "金额"],
    ),
    (Field::BilgDeptCodg, "bilg_dept_codg", &["开单科室编码"]),
    (
        Field::InitFeedetlSn,
        "init_feedetl_sn",
        &[
            "原费用流水号",
            "原费用明细流水号",
            "原明细流水号",
            "被冲销流水号",
            "被冲销明细流水号",
        ],
    ),
];

impl Field {
    /// The platform's interface name (`setl_id`, …).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _, _)| *f == self)
            .map(|(_, name, _)| *name)
            .unwrap_or("?")
    }

    /// The first Chinese header for the field (`结算ID`, …).
    pub fn chinese(self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _, _)| *f == self)
            .and_then(|(_, _, zh)| zh.first().copied())
            .unwrap_or("?")
    }

    /// The field a header names, if any: platform names case-insensitively, Chinese headers exactly
    /// (after trimming spaces and a byte-order mark).
    pub fn from_header(header: &str) -> Option<Field> {
        let header = header.trim().trim_start_matches('\u{feff}').trim();
        let lower = header.to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(_, name, zh)| *name == lower || zh.contains(&header))
            .map(|(field, _, _)| *field)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.chinese())
    }
}

/// What a file holds, decided from its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// One row per settlement (结算), optionally with the inpatient stay's fields.
    Settlements,
    /// One row per fee line (费用明细).
    FeeLines,
}

impl FileKind {
    /// Columns a file of this kind must have.
    pub fn required(self) -> &'static [Field] {
        match self {
            FileKind::Settlements => &[
                Field::SetlId,
                Field::MdtrtId,
                Field::PsnNo,
                Field::FixmedinsCode,
                Field::SetlTime,
                Field::MedfeeSumamt,
                Field::FundPaySumamt,
            ],
            FileKind::FeeLines => &[
                Field::FeedetlSn,
                Field::MdtrtId,
                Field::PsnNo,
                Field::FeeOcurTime,
                Field::HilistCode,
                Field::Cnt,
                Field::Pric,
                Field::DetItemFeeSumamt,
            ],
        }
    }

    /// Columns a file of this kind should have: without them it still imports, with a counted
    /// warning in the report (fee lines: their own institution, and the line a refund refunds).
    pub fn recommended(self) -> &'static [Field] {
        match self {
            FileKind::Settlements => &[],
            FileKind::FeeLines => &[Field::FixmedinsCode, Field::InitFeedetlSn],
        }
    }

    /// `settlements` or `fee_lines`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Settlements => "settlements",
            FileKind::FeeLines => "fee_lines",
        }
    }
}

/// The columns of a tabular file, mapped to fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMap {
    /// What the file holds.
    pub kind: FileKind,
    /// Field → column index.
    pub columns: HashMap<Field, usize>,
    /// Headers that name no known field (ignored, reported once).
    pub ignored: Vec<String>,
    /// Recommended columns of the kind ([`FileKind::recommended`]) that the file lacks.
    pub absent: Vec<Field>,
}

/// The header row does not describe a settlement or fee-line export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Neither `setl_id` nor `feedetl_sn` is present.
    #[error(
        "cannot tell what the file holds: it needs a setl_id (结算ID) column for settlements or a \
         feedetl_sn (费用明细流水号) column for fee lines; its columns are: {found}"
    )]
    UnknownKind {
        /// The headers found.
        found: String,
    },
    /// Required columns are missing.
    #[error("missing required {kind} column(s): {missing}")]
    Missing {
        /// `settlements` or `fee_lines`.
        kind: &'static str,
        /// The missing fields, with their Chinese names.
        missing: String,
    },
    /// Two headers name the same field.
    #[error("columns {first} and {second} both mean {field}")]
    Duplicate {
        /// The field.
        field: Field,
        /// 1-based column numbers.
        first: usize,
        /// 1-based column numbers.
        second: usize,
    },
}

impl HeaderMap {
    /// Maps a header row (or the keys of a JSON object) to fields and decides the file kind.
    pub fn from_headers<S: AsRef<str>>(headers: &[S]) -> Result<HeaderMap, HeaderError> {
        let mut columns = HashMap::new();
        let mut ignored = Vec::new();
        for (index, header) in headers.iter().enumerate() {
            match Field::from_header(header.as_ref()) {
                Some(field) => {
                    if let Some(first) = columns.insert(field, index) {
                        return Err(HeaderError::Duplicate {
                            field,
                            first: first + 1,
                            second: index + 1,
                        });
                    }
                }
                None => ignored.push(header.as_ref().trim().to_owned()),
            }
        }
        let kind = if columns.contains_key(&Field::FeedetlSn) {
            FileKind::FeeLines
        } else if columns.contains_key(&Field::SetlId) {
            FileKind::Settlements
        } else {
            return Err(HeaderError::UnknownKind {
                found: headers
                    .iter()
                    .map(|h| h.as_ref().trim().to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let missing: Vec<String> = kind
            .required()
            .iter()
            .filter(|f| !columns.contains_key(f))
            .map(|f| f.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError::Missing {
                kind: kind.as_str(),
                missing: missing.join(", "),
            });
        }
        let absent = kind
            .recommended()
            .iter()
            .filter(|f| !columns.contains_key(f))
            .copied()
            .collect();
        Ok(HeaderMap {
            kind,
            columns,
            ignored,
            absent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_chinese_headers_map_to_the_same_fields() {
        let english = HeaderMap::from_headers(&[
            "feedetl_sn",
            "MDTRT_ID",
            "psn_no",
            "fee_ocur_time",
            "hilist_code",
            "cnt",
            "pric",
            "det_item_fee_sumamt",
            "remark",
        ])
        .unwrap();
        let chinese = HeaderMap::from_headers(&[
            "\u{feff}费用明细流水号",
            "就诊ID",
            "人员编号",
            "费用发生时间",
            "医保目录编码",
            "数量",
            "单价",
            "明细项目费用总额",
            "备注",
        ])
        .unwrap();
        assert_eq!(english.kind, FileKind::FeeLines);
        assert_eq!(english.columns, chinese.columns);
        assert_eq!(chinese.ignored, ["备注"]);
        assert_eq!(chinese.absent, [Field::FixmedinsCode, Field::InitFeedetlSn]);
    }

    #[test]
    fn a_fee_line_carries_its_institution_and_the_line_it_refunds() {
        for (code, link) in [
            ("fixmedins_code", "init_feedetl_sn"),
            ("定点医药机构编号", "原费用流水号"),
            ("定点机构编码", "原明细流水号"),
            ("医药机构编码", "被冲销流水号"),
        ] {
            // The required columns by their Chinese headers, then the two.
            let mut headers: Vec<&str> = FileKind::FeeLines
                .required()
                .iter()
                .map(|f| f.chinese())
                .collect();
            headers.extend([code, link]);
            let header = HeaderMap::from_headers(&headers).unwrap();
            assert_eq!(header.kind, FileKind::FeeLines);
            assert_eq!(
                header.columns.get(&Field::FixmedinsCode),
                Some(&8),
                "{code}"
            );
            assert_eq!(
                header.columns.get(&Field::InitFeedetlSn),
                Some(&9),
                "{link}"
            );
            assert!(header.absent.is_empty() && header.ignored.is_empty());
        }
        // The refund's own serial number and the one it names are two fields.
        assert_eq!(Field::from_header("明细流水号"), Some(Field::FeedetlSn));
        assert_eq!(
            Field::from_header("原明细流水号"),
            Some(Field::InitFeedetlSn)
        );
    }

    #[test]
    fn missing_and_unknown_columns_are_named() {
        let err = HeaderMap::from_headers(&["setl_id", "psn_no"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("mdtrt_id (就诊ID)") && text.contains("setl_time (结算时间)"),
            "{text}"
        );
        let err = HeaderMap::from_headers(&["a", "b"]).unwrap_err();
        assert!(matches!(err, HeaderError::UnknownKind { .. }), "{err}");
        let err = HeaderMap::from_headers(&["setl_id", "结算ID"]).unwrap_err();
        assert!(err.to_string().contains("columns 1 and 2"), "{err}");
    }
}
