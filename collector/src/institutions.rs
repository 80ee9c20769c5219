//! The institutions registry (定点医药机构): name, category (机构类别) and region (医保区划 `admdvs`) of
//! each designated institution, imported from a CSV file, so that exports can be broken down by
//! category and region. An institution that is not registered is still named: from the settlements if
//! any, with category [`UNCLASSIFIED`] and the region its code implies ([`admdvs_from_code`]).

use crate::settlement::import::RowProblem;
use crate::settlement::source::{EncodingChoice, ReadError, csv_reader};
use crate::store::{Store, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use std::path::Path;
use wardwatch_protocol::InstitutionCode;

/// The category of an institution that is not registered (or registered without one).
pub const UNCLASSIFIED: &str = "未分类 unclassified";

/// The name shown for an institution neither registered nor named in any settlement.
pub const UNNAMED: &str = "(未登记 unregistered)";

/// One institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Institution {
    /// 定点医药机构编号, `H`/`P` + 11 digits.
    pub fixmedins_code: String,
    /// 定点医药机构名称.
    pub fixmedins_name: String,
    /// 机构类别 (e.g. 三级医院, 基层医疗机构), or [`UNCLASSIFIED`].
    pub category: String,
    /// 医保区划: the six-digit region code.
    pub admdvs: String,
    /// 区划名称, when known.
    pub region_name: Option<String>,
}

/// The 医保区划 code an institution code implies: its first six digits (`H43060200175` → `430602`).
pub fn admdvs_from_code(code: &InstitutionCode) -> String {
    code.as_str()[1..7].to_owned()
}

/// The columns of a registry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Code,
    Name,
    Category,
    Admdvs,
    RegionName,
}

/// (column, field name, Chinese header).
const COLUMNS: [(Column, &str, &str); 5] = [
    (Column::Code, "fixmedins_code", "定点医药机构编号"),
    (Column::Name, "fixmedins_name", "定点医药机构名称"),
    (Column::Category, "category", "机构类别"),
    (Column::Admdvs, "admdvs", "医保区划"),
    (Column::RegionName, "region_name", "区划名称"),
];

impl Column {
    fn label(self) -> String {
        let (_, name, zh) = COLUMNS
            .iter()
            .find(|(c, _, _)| *c == self)
            .copied()
            .unwrap_or((self, "?", "?"));
        format!("{name} ({zh})")
    }

    fn from_header(header: &str) -> Option<Column> {
        let header = header.trim().trim_start_matches('\u{feff}').trim();
        COLUMNS
            .iter()
            .find(|(_, name, zh)| header.eq_ignore_ascii_case(name) || header == *zh)
            .map(|(c, _, _)| *c)
    }
}

/// A registry file could not be read at all (bad rows are reported per row instead).
#[derive(Debug, thiserror::Error)]
pub enum InstitutionsError {
    /// Reading or decoding the file failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A CSV-level error (e.g. the header row cannot be read).
    #[error("{path}: {message}")]
    Csv {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Required columns are missing.
    #[error(
        "{path}: missing column(s) {missing}; expected the header fixmedins_code,fixmedins_name,\
         category,admdvs,region_name or 定点医药机构编号,定点医药机构名称,机构类别,医保区划,区划名称"
    )]
    Header {
        /// The file.
        path: String,
        /// The missing columns.
        missing: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A registry file, parsed: the good rows and the problems of the bad ones.
#[derive(Debug, Clone, Default)]
pub struct ParsedRegistry {
    /// Valid institutions, in file order (a code repeated in the file is reported, its first row kept).
    pub institutions: Vec<Institution>,
    /// Data rows read (blank rows excluded).
    pub rows_read: u64,
    /// Bad rows: row, column, reason.
    pub problems: Vec<RowProblem>,
    /// Header columns that were not recognised.
    pub ignored_columns: Vec<String>,
}

/// Reads a registry CSV (UTF-8 or GB18030, detected unless forced).
pub fn read_registry(
    path: &Path,
    encoding: EncodingChoice,
) -> Result<ParsedRegistry, InstitutionsError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let (mut reader, _) = csv_reader(file, path, encoding)?;
    let headers = reader
        .headers()
        .map_err(|e| InstitutionsError::Csv {
            path: shown.clone(),
            message: e.to_string(),
        })?
        .clone();
    let mut parsed = ParsedRegistry::default();
    let mut index: HashMap<usize, Column> = HashMap::new();
    for (i, header) in headers.iter().enumerate() {
        match Column::from_header(header) {
            Some(column) => {
                index.insert(i, column);
            }
            None if header.trim().is_empty() => {}
            None => parsed.ignored_columns.push(header.to_owned()),
        }
    }
    let missing: Vec<String> = [Column::Code, Column::Name]
        .into_iter()
        .filter(|c| !index.values().any(|v| v == c))
        .map(Column::label)
        .collect();
    if !missing.is_empty() {
        return Err(InstitutionsError::Header {
            path: shown,
            missing: missing.join(", "),
        });
    }
    let mut first_row_of: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let row = e.position().map_or(0, |p| p.line());
                parsed.rows_read += 1;
                parsed.problems.push(RowProblem {
                    row,
                    column: "*".into(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        parsed.rows_read += 1;
        let row = record.position().map_or(0, |p| p.line());
        let mut cells: HashMap<Column, &str> = HashMap::new();
        for (i, cell) in record.iter().enumerate() {
            if let Some(column) = index.get(&i) {
                cells.insert(*column, cell.trim());
            }
        }
        match parse_row(&cells) {
            Ok(institution) => match first_row_of.get(&institution.fixmedins_code) {
                Some(first) => parsed.problems.push(RowProblem {
                    row,
                    column: Column::Code.label(),
                    reason: format!(
                        "{} is already on row {first} of this file; the first row is kept",
                        institution.fixmedins_code
                    ),
                }),
                None => {
                    first_row_of.insert(institution.fixmedins_code.clone(), row);
                    parsed.institutions.push(institution);
                }
            },
            Err((column, reason)) => parsed.problems.push(RowProblem {
                row,
                column: column.label(),
                reason,
            }),
        }
    }
    Ok(parsed)
}

fn parse_row(cells: &HashMap<Column, &str>) -> Result<Institution, (Column, String)> {
    let cell = |c: Column| cells.get(&c).copied().filter(|v| !v.is_empty());
    let code: InstitutionCode = cell(Column::Code)
        .ok_or((Column::Code, "is empty".to_owned()))?
        .parse()
        .map_err(|e| (Column::Code, format!("{e}")))?;
    let name = cell(Column::Name).ok_or((Column::Name, "is empty".to_owned()))?;
    let admdvs = match cell(Column::Admdvs) {
        None => admdvs_from_code(&code),
        Some(v) if v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()) => v.to_owned(),
        Some(v) => {
            return Err((
                Column::Admdvs,
                format!("{v:?} is not a six-digit region code (e.g. 430602)"),
            ));
        }
    };
    Ok(Institution {
        fixmedins_code: code.to_string(),
        fixmedins_name: name.to_owned(),
        category: cell(Column::Category).unwrap_or(UNCLASSIFIED).to_owned(),
        admdvs,
        region_name: cell(Column::RegionName).map(str::to_owned),
    })
}

/// What storing a registry did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RegistryUpdate {
    /// Institutions registered for the first time.
    pub added: u64,
    /// Institutions whose stored values changed.
    pub updated: u64,
    /// Institutions already stored with the same values.
    pub unchanged: u64,
}

/// Every registered institution, and the names the settlements give to the others.
#[derive(Debug, Clone, Default)]
pub struct InstitutionDirectory {
    registered: HashMap<String, Institution>,
    settlement_names: HashMap<String, String>,
}

impl InstitutionDirectory {
    /// A directory from registered institutions and settlement names (code → name).
    pub fn new(
        registered: Vec<Institution>,
        settlement_names: HashMap<String, String>,
    ) -> InstitutionDirectory {
        InstitutionDirectory {
            registered: registered
                .into_iter()
                .map(|i| (i.fixmedins_code.clone(), i))
                .collect(),
            settlement_names,
        }
    }

    /// The institution a code names: as registered, else named from the settlements, unclassified,
    /// in the region its code implies (empty when the code is not `H`/`P` + 11 digits).
    pub fn resolve(&self, code: &str) -> Institution {
        if let Some(registered) = self.registered.get(code) {
            return registered.clone();
        }
        Institution {
            fixmedins_code: code.to_owned(),
            fixmedins_name: self
                .settlement_names
                .get(code)
                .cloned()
                .unwrap_or_else(|| UNNAMED.to_owned()),
            category: UNCLASSIFIED.to_owned(),
            admdvs: code
                .parse::<InstitutionCode>()
                .map(|c| admdvs_from_code(&c))
                .unwrap_or_default(),
            region_name: None,
        }
    }

    /// The name of a region: the first registered institution in it that names it.
    pub fn region_name(&self, admdvs: &str) -> Option<String> {
        let mut named: Vec<&Institution> = self
            .registered
            .values()
            .filter(|i| i.admdvs == admdvs && i.region_name.is_some())
            .collect();
        named.sort_by(|a, b| a.fixmedins_code.cmp(&b.fixmedins_code));
        named.first().and_then(|i| i.region_name.clone())
    }
}

fn institution_from_row(r: &sqlx::any::AnyRow) -> Result<Institution, sqlx::Error> {
    Ok(Institution {
        fixmedins_code: r.try_get(0)?,
        fixmedins_name: r.try_get(1)?,
        category: r.try_get(2)?,
        admdvs: r.try_get(3)?,
        region_name: r.try_get(4)?,
    })
}

impl Store {
    /// Registers institutions, updating those already registered, in one transaction.
    pub async fn register_institutions(
        &self,
        institutions: &[Institution],
    ) -> Result<RegistryUpdate, StoreError> {
        let now = now_ms();
        let mut update = RegistryUpdate::default();
        let mut tx = self.pool().begin().await?;
        for institution in institutions {
            let stored = sqlx::query(
                "SELECT fixmedins_code, fixmedins_name, category, admdvs, region_name \
                 FROM institutions WHERE fixmedins_code = $1",
            )
            .bind(&institution.fixmedins_code)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| institution_from_row(&r))
            .transpose()?;
            match stored {
                Some(stored) if stored == *institution => update.unchanged += 1,
                stored => {
                    sqlx::query(
                        "INSERT INTO institutions (fixmedins_code, fixmedins_name, category, admdvs, \
                         region_name, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (fixmedins_code) DO UPDATE SET fixmedins_name = $2, \
                         category = $3, admdvs = $4, region_name = $5, updated_at_ms = $6",
                    )
                    .bind(&institution.fixmedins_code)
                    .bind(&institution.fixmedins_name)
                    .bind(&institution.category)
                    .bind(&institution.admdvs)
                    .bind(&institution.region_name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if stored.is_some() {
                        update.updated += 1;
                    } else {
                        update.added += 1;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(update)
    }

    /// Every registered institution, by code.
    pub async fn institutions(&self) -> Result<Vec<Institution>, StoreError> {
        let rows = sqlx::query(
            "SELECT fixmedins_code, fixmedins_name, category, admdvs, region_name \
             FROM institutions ORDER BY fixmedins_code",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(institution_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The registry plus the names settlements give to unregistered institutions.
    pub async fn institution_directory(&self) -> Result<InstitutionDirectory, StoreError> {
        let rows = sqlx::query(
            "SELECT fixmedins_code, MAX(fixmedins_name) FROM settlements \
             WHERE fixmedins_name IS NOT NULL AND fixmedins_name <> '' GROUP BY fixmedins_code",
        )
        .fetch_all(self.pool())
        .await?;
        let names = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<HashMap<String, String>, sqlx::Error>>()?;
        Ok(InstitutionDirectory::new(self.institutions().await?, names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_the_first_six_digits_of_the_code() {
        let code: InstitutionCode = "H43060200175".parse().expect("valid code");
        assert_eq!(admdvs_from_code(&code), "430602");
        let pharmacy: InstitutionCode = "P11010500003".parse().expect("valid code");
        assert_eq!(admdvs_from_code(&pharmacy), "110105");
    }

    #[test]
    fn unregistered_institutions_are_named_from_settlements_and_unclassified() {
        let registered = Institution {
            fixmedins_code: "H43060200175".into(),
            fixmedins_name: "岳阳市第一人民医院".into(),
            category: "三级医院".into(),
            admdvs: "430602".into(),
            region_name: Some("岳阳楼区".into()),
        };
        let directory = InstitutionDirectory::new(
            vec![registered.clone()],
            HashMap::from([("H43060300001".to_owned(), "某社区卫生服务中心".to_owned())]),
        );
        assert_eq!(directory.resolve("H43060200175"), registered);
        let from_settlements = directory.resolve("H43060300001");
        assert_eq!(from_settlements.fixmedins_name, "某社区卫生服务中心");
        assert_eq!(from_settlements.category, UNCLASSIFIED);
        assert_eq!(from_settlements.admdvs, "430603");
        assert_eq!(directory.resolve("P11010500003").fixmedins_name, UNNAMED);
        assert_eq!(directory.resolve("not-a-code").admdvs, "");
        assert_eq!(directory.region_name("430602").as_deref(), Some("岳阳楼区"));
        assert_eq!(directory.region_name("430603"), None);
    }

    #[test]
    fn registry_rows_are_checked_column_by_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("institutions.csv");
        let (text, _, _) = encoding_rs::GB18030.encode(
            "定点医药机构编号,定点医药机构名称,机构类别,医保区划,区划名称,备注\n\
             H43060200175,岳阳市第一人民医院,三级医院,,岳阳楼区,x\n\
             H4306,短编号医院,二级医院,,,\n\
             H43060300001,,基层医疗机构,,,\n\
             H43060300002,某诊所,,43060,,\n\
             H43060200175,重复,三级医院,,,\n\
             P43060300009,某药房,,,,\n\
             \n",
        );
        std::fs::write(&path, &text).expect("write");
        let parsed = read_registry(&path, EncodingChoice::Auto).expect("readable");
        assert_eq!(parsed.rows_read, 6);
        assert_eq!(parsed.ignored_columns, vec!["备注".to_owned()]);
        let codes: Vec<&str> = parsed
            .institutions
            .iter()
            .map(|i| i.fixmedins_code.as_str())
            .collect();
        assert_eq!(codes, ["H43060200175", "P43060300009"]);
        assert_eq!(parsed.institutions[0].admdvs, "430602");
        assert_eq!(parsed.institutions[1].category, UNCLASSIFIED);
        let problems: Vec<(u64, &str)> = parsed
            .problems
            .iter()
            .map(|p| (p.row, p.column.as_str()))
            .collect();
        assert_eq!(
            problems,
            [
                (3, "fixmedins_code (定点医药机构编号)"),
                (4, "fixmedins_name (定点医药机构名称)"),
                (5, "admdvs (医保区划)"),
                (6, "fixmedins_code (定点医药机构编号)"),
            ]
        );
    }

    #[test]
    fn a_file_without_the_code_column_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("institutions.csv");
        std::fs::write(&path, "name,category\nA,B\n").expect("write");
        let error = read_registry(&path, EncodingChoice::Auto).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("fixmedins_code (定点医药机构编号)"),
            "{message}"
        );
        assert!(message.contains("fixmedins_name"), "{message}");
    }
}
