//! Threshold calibration on a bureau's own people: from labelled enrolment photos and camera captures
//! (each embedded by the box's models with `wardwatch-agent embed --folder`, see
//! [`wardwatch_protocol::EmbeddedPhoto`]), the false-match and false-non-match rates at a range of
//! similarity thresholds, and the `similarity_threshold` and `margin` to set on the boxes for a chosen
//! false-match rate.
//!
//! Scoring is the box's: a capture's similarity to a person is the best over the person's enrolment
//! embeddings (the matcher takes the maximum), and a face is named when its best person reaches the
//! threshold and leads the runner-up by the margin (open set). Captures of people who are not enrolled
//! (a folder of visitors or staff, say) are impostors against everyone.
//!
//! - **FMR** (false-match rate) is per comparison: a capture against one enrolled person who is not in
//!   it, accepted when the similarity reaches the threshold — the rate the README's ORL threshold is set
//!   on (FAR 1e-3).
//! - **FNMR** is per capture of an enrolled person: its own person's similarity below the threshold.
//! - The recommended threshold is the lowest at which the FMR is at most the target. The recommended
//!   margin is the smallest of 0.00–0.20 (step 0.01), and not below `min_margin`, at which the share of
//!   captures named as someone they are not (false identifications, the open-set decision at that
//!   threshold) is at most the target.
//!
//! Captures without a face, or that the box's quality gate would skip, are counted and left out: the
//! box never matches them.

use std::collections::BTreeMap;
use std::path::Path;
use wardwatch_protocol::{EmbeddedPhoto, JsonLinesError, read_json_lines};

/// Margins tried, in hundredths.
const MARGIN_STEPS: std::ops::RangeInclusive<u32> = 0..=20;

/// Calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// A file could not be read, or a line is not an embedded photo.
    #[error(transparent)]
    Read(#[from] JsonLinesError),
    /// The data cannot say anything.
    #[error("{0}")]
    Data(String),
}

/// Reads `wardwatch-agent embed` output.
pub fn read_photos(path: &Path) -> Result<Vec<EmbeddedPhoto>, CalibrateError> {
    let mut photos = Vec::new();
    read_json_lines(path, |photo: EmbeddedPhoto| {
        photos.push(photo);
        Ok(())
    })?;
    Ok(photos)
}

/// `v` at unit length, if it is a usable vector.
fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (v.iter().all(|x| x.is_finite()) && norm > 1e-6).then(|| v.iter().map(|x| x / norm).collect())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One recognisable capture, scored against the gallery.
#[derive(Debug, Clone, PartialEq)]
struct Scored {
    /// Similarity to its own person, when enrolled.
    own: Option<f32>,
    /// Similarities to every other enrolled person.
    others: Vec<f32>,
    /// The best enrolled person's similarity and whether that person is the capture's own.
    best: (f32, bool),
    /// The runner-up's similarity (`None` with one person enrolled).
    second: Option<f32>,
}

/// What one (threshold, margin) decides over the captures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenSet {
    /// Captures of enrolled people named as themselves.
    pub named_right: usize,
    /// Captures named as someone they are not (enrolled or not).
    pub named_wrong: usize,
    /// Captures left unknown.
    pub unknown: usize,
}

/// The rates at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatesAt {
    /// The similarity threshold.
    pub threshold: f32,
    /// False-match rate per impostor comparison.
    pub fmr: f64,
    /// False-non-match rate per capture of an enrolled person.
    pub fnmr: f64,
    /// The open-set decisions at this threshold and the recommended margin.
    pub open_set: OpenSet,
}

/// The recommendation and the figures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// People enrolled, and enrolment embeddings.
    pub enrolled: (usize, usize),
    /// Enrolment photos without a face (left out).
    pub enrolment_without_face: usize,
    /// Captures used; of them, of enrolled people.
    pub captures: (usize, usize),
    /// Captures without a face.
    pub captures_without_face: usize,
    /// Captures the quality gate would skip.
    pub captures_skipped: usize,
    /// Impostor comparisons.
    pub impostor_comparisons: usize,
    /// The target false-match rate.
    pub target_fmr: f64,
    /// The recommended similarity threshold.
    pub threshold: f32,
    /// The recommended margin.
    pub margin: f32,
    /// The rates at the recommended threshold.
    pub at_recommended: RatesAt,
    /// Open-set decisions at the recommended threshold for each margin tried.
    pub margins: Vec<(f32, OpenSet)>,
    /// The rates at thresholds 0.20–0.70 (step 0.02).
    pub table: Vec<RatesAt>,
}

impl Calibration {
    /// Whether the data has enough impostor comparisons to show the target FMR with 95% confidence
    /// when none is above the threshold (the rule of three: at least 3 / target).
    pub fn enough_comparisons(&self) -> bool {
        self.impostor_comparisons as f64 >= 3.0 / self.target_fmr
    }
}

/// Each enrolled person's unit-length enrolment embeddings.
type People<'a> = BTreeMap<&'a str, Vec<Vec<f32>>>;

/// Scores every recognisable capture against the gallery of `enrolment`.
fn score<'a>(
    enrolment: &'a [EmbeddedPhoto],
    captures: &[EmbeddedPhoto],
) -> Result<(Vec<Scored>, People<'a>), CalibrateError> {
    let model = enrolment
        .iter()
        .chain(captures)
        .find(|p| p.embedding.is_some())
        .map(|p| p.model.as_str());
    if let Some(other) = enrolment
        .iter()
        .chain(captures)
        .find(|p| p.embedding.is_some() && Some(p.model.as_str()) != model)
    {
        return Err(CalibrateError::Data(format!(
            "{} was embedded with {}, others with {}: embed every photo with the same models",
            other.file,
            other.model,
            model.unwrap_or("-")
        )));
    }
    let mut gallery: BTreeMap<&str, Vec<Vec<f32>>> = BTreeMap::new();
    for photo in enrolment {
        if let Some(e) = photo.embedding.as_deref().and_then(unit) {
            gallery.entry(&photo.person).or_default().push(e);
        }
    }
    let dims = gallery.values().flatten().map(Vec::len).next();
    if gallery.is_empty() {
        return Err(CalibrateError::Data(
            "no enrolment photo has a face: nothing to calibrate against".into(),
        ));
    }
    let mut scored = Vec::new();
    for capture in captures {
        if capture.skipped.is_some() {
            continue;
        }
        let Some(probe) = capture.embedding.as_deref().and_then(unit) else {
            continue;
        };
        if Some(probe.len()) != dims {
            return Err(CalibrateError::Data(format!(
                "{}: an embedding of {} values, the enrolment's have {}",
                capture.file,
                probe.len(),
                dims.unwrap_or(0)
            )));
        }
        let mut own = None;
        let mut others = Vec::new();
        let (mut best, mut second) = ((f32::NEG_INFINITY, false), None::<f32>);
        for (person, embeddings) in &gallery {
            let s = embeddings
                .iter()
                .map(|e| dot(e, &probe))
                .fold(f32::NEG_INFINITY, f32::max);
            let is_own = *person == capture.person;
            if is_own {
                own = Some(s);
            } else {
                others.push(s);
            }
            if s > best.0 {
                second = best.0.is_finite().then_some(best.0);
                best = (s, is_own);
            } else if second.is_none_or(|t| s > t) {
                second = Some(s);
            }
        }
        scored.push(Scored {
            own,
            others,
            best,
            second,
        });
    }
    Ok((scored, gallery))
}

/// The open-set decisions at `threshold` and `margin` (the box's rule: named when the best reaches
/// the threshold and leads the runner-up by the margin; alone, the lead is 1 + similarity).
fn open_set(scored: &[Scored], threshold: f32, margin: f32) -> OpenSet {
    let mut out = OpenSet {
        named_right: 0,
        named_wrong: 0,
        unknown: 0,
    };
    for s in scored {
        let lead = s.second.map_or(1.0 + s.best.0, |second| s.best.0 - second);
        if s.best.0 >= threshold && lead >= margin {
            if s.best.1 {
                out.named_right += 1;
            } else {
                out.named_wrong += 1;
            }
        } else {
            out.unknown += 1;
        }
    }
    out
}

fn rates(scored: &[Scored], threshold: f32, margin: f32) -> RatesAt {
    let impostors: usize = scored.iter().map(|s| s.others.len()).sum();
    let accepted: usize = scored
        .iter()
        .flat_map(|s| &s.others)
        .filter(|s| **s >= threshold)
        .count();
    let genuine: Vec<f32> = scored.iter().filter_map(|s| s.own).collect();
    let rejected = genuine.iter().filter(|s| **s < threshold).count();
    RatesAt {
        threshold,
        fmr: accepted as f64 / impostors.max(1) as f64,
        fnmr: rejected as f64 / genuine.len().max(1) as f64,
        open_set: open_set(scored, threshold, margin),
    }
}

/// The lowest threshold (rounded up to a thousandth) at which at most `target` of the impostor
/// comparisons reach it.
fn threshold_for(scored: &[Scored], target: f64) -> f32 {
    let mut impostor: Vec<f32> = scored.iter().flat_map(|s| s.others.clone()).collect();
    impostor.sort_by(|a, b| b.total_cmp(a));
    let allowed = (target * impostor.len() as f64).floor() as usize;
    match impostor.get(allowed) {
        // Strictly above the (allowed + 1)-th highest impostor score.
        Some(v) => {
            let mut t = ((f64::from(*v) * 1000.0).floor() + 1.0) / 1000.0;
            if t as f32 <= *v {
                t += 0.001;
            }
            (t as f32).min(1.0)
        }
        None => -1.0,
    }
}

/// Calibrates on `enrolment` and `captures` for `target_fmr`, never recommending a margin below
/// `min_margin`.
pub fn calibrate(
    enrolment: &[EmbeddedPhoto],
    captures: &[EmbeddedPhoto],
    target_fmr: f64,
    min_margin: f32,
) -> Result<Calibration, CalibrateError> {
    if !(target_fmr > 0.0 && target_fmr < 1.0) {
        return Err(CalibrateError::Data(format!(
            "target FMR {target_fmr}: must be above 0 and below 1"
        )));
    }
    let (scored, gallery) = score(enrolment, captures)?;
    let of_enrolled = scored.iter().filter(|s| s.own.is_some()).count();
    if of_enrolled == 0 {
        return Err(CalibrateError::Data(
            "no recognisable capture is of an enrolled person: name the capture folders as the \
             enrolment folders"
                .into(),
        ));
    }
    let impostor_comparisons: usize = scored.iter().map(|s| s.others.len()).sum();
    if impostor_comparisons == 0 {
        return Err(CalibrateError::Data(
            "no impostor comparison: enrol at least two people (or add captures of people not enrolled)"
                .into(),
        ));
    }
    let threshold = threshold_for(&scored, target_fmr);
    let margins: Vec<(f32, OpenSet)> = MARGIN_STEPS
        .map(|m| {
            let m = m as f32 / 100.0;
            (m, open_set(&scored, threshold, m))
        })
        .collect();
    let allowed_wrong = target_fmr * scored.len() as f64;
    let margin = margins
        .iter()
        .find(|(m, o)| *m + 1e-6 >= min_margin && o.named_wrong as f64 <= allowed_wrong)
        .or_else(|| margins.last())
        .map_or(min_margin, |(m, _)| *m);
    let table = (10..=35)
        .map(|i| rates(&scored, i as f32 * 0.02, margin))
        .collect();
    Ok(Calibration {
        enrolled: (gallery.len(), gallery.values().map(Vec::len).sum()),
        enrolment_without_face: enrolment.iter().filter(|p| p.embedding.is_none()).count(),
        captures: (scored.len(), of_enrolled),
        captures_without_face: captures.iter().filter(|p| p.embedding.is_none()).count(),
        captures_skipped: captures
            .iter()
            .filter(|p| p.embedding.is_some() && p.skipped.is_some())
            .count(),
        impostor_comparisons,
        target_fmr,
        threshold,
        margin,
        at_recommended: rates(&scored, threshold, margin),
        margins,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIMS: usize = 64;

    /// A unit vector near axis `axis`, tilted by `tilt` towards axis `towards`.
    fn near(axis: usize, towards: usize, tilt: f32) -> Vec<f32> {
        let mut v = vec![0.0; DIMS];
        v[axis] = 1.0;
        v[towards] += tilt;
        unit(&v).expect("unit")
    }

    fn photo(person: &str, embedding: Option<Vec<f32>>) -> EmbeddedPhoto {
        EmbeddedPhoto {
            person: person.into(),
            file: format!("{person}/x.jpg"),
            model: "fr_feature".into(),
            embedding,
            quality: Some(1.0),
            skipped: None,
        }
    }

    #[test]
    fn similarity_is_the_best_enrolment_and_the_threshold_sits_above_the_allowed_impostors() {
        // A and B enrolled (A twice); captures: A near A's second photo, B, and a visitor V near A.
        let enrolment = vec![
            photo("A", Some(near(0, 2, 0.0))),
            photo("A", Some(near(1, 2, 0.0))),
            photo("B", Some(near(3, 4, 0.0))),
        ];
        let a = near(1, 5, 0.3); // cos to A's second = 1/sqrt(1.09) ≈ 0.958
        let v = near(0, 6, 1.0); // cos to A's first ≈ 0.707: an impostor close to A
        let captures = vec![
            photo("A", Some(a)),
            photo("B", Some(near(3, 7, 0.5))),
            photo("V", Some(v)),
            photo("A", None), // no face: left out
        ];
        let c = calibrate(&enrolment, &captures, 0.2, 0.0).expect("calibrates");
        assert_eq!(c.enrolled, (2, 3));
        assert_eq!(c.captures, (3, 2));
        assert_eq!(c.captures_without_face, 1);
        // Impostor comparisons: A vs B, B vs A, V vs A, V vs B.
        assert_eq!(c.impostor_comparisons, 4);
        // FMR ≤ 0.2 of 4 comparisons allows none: the threshold must be just above V's 0.707.
        assert!((c.threshold - 0.708).abs() < 1e-6, "{}", c.threshold);
        assert_eq!(c.at_recommended.fmr, 0.0);
        assert_eq!(c.at_recommended.fnmr, 0.0);
        assert_eq!(
            c.at_recommended.open_set,
            OpenSet {
                named_right: 2,
                named_wrong: 0,
                unknown: 1
            }
        );
        // A looser target lets V's comparison through: threshold at the next score down (0).
        let loose = calibrate(&enrolment, &captures, 0.25, 0.0).expect("calibrates");
        assert!(loose.threshold <= 0.001 + 1e-6, "{}", loose.threshold);
        assert!((loose.at_recommended.fmr - 0.25).abs() < 1e-9);
        assert!(
            !c.enough_comparisons(),
            "4 comparisons cannot show 0.2 (3/0.2 = 15 needed)"
        );
    }

    #[test]
    fn the_margin_grows_until_near_ties_stop_naming_the_wrong_person() {
        // Two enrolled people close to each other; a capture of A that is slightly nearer B.
        let a = near(0, 1, 0.0);
        let b = near(1, 0, 0.0);
        let mut enrolment = vec![photo("A", Some(a)), photo("B", Some(b))];
        // Ten more people far from both, so that each capture makes eleven impostor comparisons.
        for p in 0..10 {
            enrolment.push(photo(&format!("C{p}"), Some(near(20 + p, 40, 0.0))));
        }
        let mut captures = Vec::new();
        // Ten clean captures of each.
        for i in 0..10 {
            captures.push(photo("A", Some(near(0, 2 + i % 5, 0.2))));
            captures.push(photo("B", Some(near(1, 2 + i % 5, 0.2))));
        }
        // One capture of A between A and B, 0.04 nearer B: named B unless the margin exceeds 0.04.
        let mut between = vec![0.0; DIMS];
        between[0] = 1.0;
        between[1] = 1.06;
        captures.push(photo("A", Some(unit(&between).expect("unit"))));
        // 21 captures × 11 comparisons: FMR 0.01 allows two impostor scores (0.727 and one 0) above
        // the threshold, which sits just above 0; but 0.01 of 21 captures allows no false identification.
        let c = calibrate(&enrolment, &captures, 0.01, 0.0).expect("calibrates");
        assert_eq!(c.impostor_comparisons, 231);
        assert!(c.threshold < 0.01, "{}", c.threshold);
        let at = |m: f32| {
            c.margins
                .iter()
                .find(|(x, _)| (x - m).abs() < 1e-6)
                .expect("tried")
                .1
        };
        assert_eq!(at(0.0).named_wrong, 1, "{:?}", c.margins);
        assert_eq!(at(0.05).named_wrong, 0, "{:?}", c.margins);
        assert!(
            c.margin > 0.0 && c.margin <= 0.05,
            "the smallest margin with no false identification: {}",
            c.margin
        );
        // A floor on the margin is respected.
        let floored = calibrate(&enrolment, &captures, 0.01, 0.1).expect("calibrates");
        assert!((floored.margin - 0.1).abs() < 1e-6);
    }

    #[test]
    fn skipped_captures_and_bad_inputs() {
        let enrolment = vec![
            photo("A", Some(near(0, 1, 0.0))),
            photo("B", Some(near(2, 1, 0.0))),
        ];
        let mut skipped = photo("A", Some(near(0, 3, 0.1)));
        skipped.skipped = Some("head turned (yaw 0.50)".into());
        let captures = vec![skipped, photo("A", Some(near(0, 3, 0.1)))];
        let c = calibrate(&enrolment, &captures, 0.1, 0.05).expect("calibrates");
        assert_eq!((c.captures, c.captures_skipped), ((1, 1), 1));
        assert!(!c.enough_comparisons(), "one comparison cannot show 1e-1");

        let mut other_model = photo("B", Some(near(2, 3, 0.1)));
        other_model.model = "arcface_r100".into();
        let err = calibrate(&enrolment, &[other_model], 0.1, 0.0).expect_err("two models");
        assert!(err.to_string().contains("arcface_r100"), "{err}");
        let err = calibrate(&enrolment, &[photo("V", Some(near(5, 6, 0.1)))], 0.1, 0.0)
            .expect_err("no enrolled capture");
        assert!(err.to_string().contains("enrolled"), "{err}");
        assert!(calibrate(&enrolment, &captures, 0.0, 0.0).is_err());
        assert!(calibrate(&[photo("A", None)], &captures, 0.1, 0.0).is_err());
    }
}
