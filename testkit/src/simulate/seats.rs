//! Where people sit, as a ward box with seat zones reports it: each dialysis patient has a regular chair
//! at their centre (patients of one shift never share one) and each psychiatric inpatient a bed;
//! rehabilitation is a gym and has no seats, visitors sit in none.
//!
//! The noise model (ours, like the rest of the month's): on [`REPAIR_SHARE`] of dialysis sessions the
//! patient's machine is under repair and whoever comes — the patient, or someone in their place — sits in
//! another chair of the ward, drawn at random (possibly one a patient of the same shift uses); an
//! impostor otherwise sits in the absent patient's chair. A dialysis interval carries its session's
//! chair with probability [`SEATED_SHARE`] (else no seat: no zone held most of the face centres — the
//! person stood, walked, or the zone was drawn badly); a psychiatric interval carries the patient's bed
//! with probability [`IN_BED_SHARE`] (else they were about the ward). Every draw comes from the seats'
//! own random stream, so the rest of the month is as it was without seats.

use super::{Line, Random};
use std::collections::BTreeMap;
use wardwatch_protocol::{Payload, SeatId, WardKind};

/// Share of dialysis sessions whose chair is another than the patient's (a machine under repair).
pub(super) const REPAIR_SHARE: f64 = 0.05;
/// Share of dialysis intervals whose face centres a chair's zone held for most of the interval.
pub(super) const SEATED_SHARE: f64 = 0.9;
/// Share of psychiatric intervals spent in the patient's bed.
pub(super) const IN_BED_SHARE: f64 = 0.5;
/// Chairs a dialysis ward has beyond the largest shift's patients.
const SPARE_CHAIRS: usize = 2;

/// The seats of the month's wards and who usually sits where.
pub(super) struct Seats {
    random: Random,
    /// Every seat of an institution's ward.
    ward: BTreeMap<String, Vec<String>>,
    /// (institution, psn_no) → the patient's own seat.
    own: BTreeMap<(String, String), String>,
}

impl Seats {
    /// No seats yet; draws from the stream of `seed` (distinct from every other stream of the month).
    pub(super) fn new(seed: u64) -> Seats {
        Seats {
            random: Random(seed ^ 0x5EA7_0000_0000),
            ward: BTreeMap::new(),
            own: BTreeMap::new(),
        }
    }

    /// Gives `institution`'s patients their seats: `groups` are patients who are there at the same
    /// time (a shift; for beds, everyone), each group spread over the ward's seats in random order. The
    /// ward has as many seats as its largest group, plus `spare`.
    fn assign(&mut self, institution: &str, kind: &str, groups: &[Vec<String>], spare: usize) {
        let size = groups.iter().map(Vec::len).max().unwrap_or(0) + spare;
        let seats: Vec<String> = (1..=size).map(|n| format!("{kind}-{n}")).collect();
        for group in groups {
            let mut free = seats.clone();
            for psn in group {
                let k = (self.random.next() % free.len().max(1) as u64) as usize;
                if k < free.len() {
                    let seat = free.swap_remove(k);
                    self.own.insert((institution.to_owned(), psn.clone()), seat);
                }
            }
        }
        self.ward.insert(institution.to_owned(), seats);
    }

    /// Dialysis chairs: `shifts` are the patients of each (days, morning/afternoon) shift.
    pub(super) fn chairs(&mut self, institution: &str, shifts: &[Vec<String>]) {
        self.assign(institution, "chair", shifts, SPARE_CHAIRS);
    }

    /// Psychiatric beds, one a patient.
    pub(super) fn beds(&mut self, institution: &str, patients: Vec<String>) {
        self.assign(institution, "bed", &[patients], 0);
    }

    /// The seat whoever attended line `l` sat in: the patient's own, or for a dialysis session with its
    /// machine under repair another chair of the ward. `None` for wards without seats.
    pub(super) fn of_line(&mut self, l: &Line) -> Option<String> {
        let own = self
            .own
            .get(&(l.institution.clone(), l.psn_no.clone()))?
            .clone();
        if l.ward != WardKind::Haemodialysis || !self.random.chance(REPAIR_SHARE) {
            return Some(own);
        }
        let others: Vec<&String> = self
            .ward
            .get(&l.institution)
            .into_iter()
            .flatten()
            .filter(|s| **s != own)
            .collect();
        let k = self.random.next() % others.len().max(1) as u64;
        others.get(k as usize).map(|s| (*s).clone()).or(Some(own))
    }

    /// `payload` (a presence interval in `seat`'s ward of kind `ward`) with the seat the box reported:
    /// the seat, or none when no zone held the face for most of the interval.
    pub(super) fn report(
        &mut self,
        ward: WardKind,
        seat: Option<&String>,
        payload: Option<Payload>,
    ) -> Option<Payload> {
        let Some(Payload::Presence(mut p)) = payload else {
            return payload;
        };
        let share = match ward {
            WardKind::Psychiatric => IN_BED_SHARE,
            _ => SEATED_SHARE,
        };
        if let Some(seat) = seat
            && self.random.chance(share)
        {
            p.seat = seat.parse::<SeatId>().ok();
        }
        Some(Payload::Presence(p))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MonthSpec, generate, institutions};
    use std::collections::BTreeMap;
    use wardwatch_protocol::{Payload, Person};

    #[test]
    fn patients_keep_their_seats_and_the_gym_and_visitors_have_none() {
        let spec = MonthSpec {
            days: 14,
            dialysis_patients: 12,
            rehab_patients: 6,
            psych_patients: 4,
            cases_per_kind: 2,
            ..MonthSpec::default()
        };
        let month = generate(&spec);
        let codes = institutions(spec.group).map(|(code, _)| code);
        // (institution, psn) → seat → intervals; and seated / all intervals per institution and kind of
        // person (enrolled or not).
        let mut seats: BTreeMap<(String, String), BTreeMap<String, u32>> = BTreeMap::new();
        let mut counts: BTreeMap<(&str, bool), (u32, u32)> = BTreeMap::new();
        for (inst, events) in &month.events {
            for e in events {
                let Payload::Presence(p) = &e.payload else {
                    continue;
                };
                let known = matches!(p.person, Person::PsnNo(_));
                let count = counts.entry((inst.as_str(), known)).or_default();
                count.1 += 1;
                if let Some(seat) = &p.seat {
                    count.0 += 1;
                    if let Person::PsnNo(psn) = &p.person {
                        *seats
                            .entry((inst.clone(), psn.to_string()))
                            .or_default()
                            .entry(seat.to_string())
                            .or_default() += 1;
                    }
                }
            }
        }
        for known in [true, false] {
            assert_eq!(
                counts[&(codes[2].as_str(), known)].0,
                0,
                "the gym has no seats"
            );
        }
        let share = |inst: &str| {
            let (seated, all) = counts[&(inst, true)];
            f64::from(seated) / f64::from(all)
        };
        // Dialysis: 90% of the patients' sessions' intervals seated (presence the fraud kinds add, at
        // other institutions' patients' slots, has none); the psychiatric ward: half.
        assert!(
            (0.7..0.97).contains(&share(&codes[0])),
            "{}",
            share(&codes[0])
        );
        assert!(
            (0.35..0.65).contains(&share(&codes[3])),
            "{}",
            share(&codes[3])
        );
        // Unknown faces are visitors (no seat) or impostors and unrecognised patients (seated): some.
        let (seated, all) = counts[&(codes[0].as_str(), false)];
        assert!(seated > 0 && seated < all, "{seated} of {all}");
        // Each dialysis patient sits in one chair on most sessions; patients of one shift in others.
        let mut own: BTreeMap<(String, String), String> = BTreeMap::new();
        for ((inst, psn), chairs) in seats.iter().filter(|((i, _), _)| *i == codes[0]) {
            let total: u32 = chairs.values().sum();
            let (chair, most) = chairs.iter().max_by_key(|(_, n)| **n).expect("a chair");
            assert!(
                f64::from(*most) >= 0.6 * f64::from(total),
                "{psn}: {chairs:?}"
            );
            own.insert((inst.clone(), psn.clone()), chair.clone());
        }
        assert_eq!(own.len(), 12);
        // A patient's number ends with their index in ten digits; the index modulo 4 is their shift.
        let shift_of = |psn: &str| psn[psn.len() - 10..].parse::<u32>().unwrap_or(0) % 4;
        for ((_, a), chair_a) in &own {
            for ((_, b), chair_b) in &own {
                if a < b && shift_of(a) == shift_of(b) {
                    assert_ne!(chair_a, chair_b, "{a} and {b} share a shift");
                }
            }
        }
    }
}
