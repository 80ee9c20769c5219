//! A camera's seat zones (`[[camera.seats]]`): rectangles of its picture that the technician draws
//! around each dialysis chair or bed, and which of them a face's centre falls in. A presence interval's
//! seat is the zone holding most of its face centres ([`crate::presence`]); the collector learns each
//! patient's usual seat from them and sees an unknown face in an absent patient's chair.

use crate::setting::InvalidSetting;
use serde::Deserialize;
use wardwatch_protocol::{CameraId, SeatId};

/// One `[[camera.seats]]`: a seat's id, unique on its camera, and where it is in the picture.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatZone {
    /// The seat's id (`chair-3`, `床7`: 1 to 32 characters, no control character).
    pub id: SeatId,
    /// `[x, y, w, h]`: left, top, width and height as fractions of the frame's width and height
    /// (`[0, 0, 1, 1]` is the whole frame), whatever the camera's resolution or region of interest.
    pub rect: [f64; 4],
}

impl SeatZone {
    /// Whether the point (fractions of the frame) lies in the zone (left and top edges included).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let [left, top, w, h] = self.rect;
        x >= left && x < left + w && y >= top && y < top + h
    }
}

/// Checks `camera`'s seat zones in file order: each rectangle inside the frame with a positive size,
/// each id used once on the camera. Zones may overlap (chairs seen in perspective); a face centre in
/// two goes to the one listed first.
pub fn check_seats(camera: &CameraId, seats: &[SeatZone]) -> Result<(), InvalidSetting> {
    let mut seen = std::collections::BTreeSet::new();
    for seat in seats {
        let id = &seat.id;
        if !seen.insert(id) {
            return Err(InvalidSetting::new(
                "camera.seats.id",
                format!("{id} is used twice on camera {camera}"),
            ));
        }
        let [x, y, w, h] = seat.rect;
        let inside = seat.rect.iter().all(|v| v.is_finite())
            && x >= 0.0
            && y >= 0.0
            && w > 0.0
            && h > 0.0
            && x + w <= 1.0 + 1e-9
            && y + h <= 1.0 + 1e-9;
        if !inside {
            return Err(InvalidSetting::new(
                "camera.seats.rect",
                format!(
                    "of camera {camera}, seat {id}: {:?} is not inside the frame — [x, y, w, h] are \
                     fractions of the frame's width and height (x, y ≥ 0, w, h > 0, x + w ≤ 1, \
                     y + h ≤ 1)",
                    seat.rect
                ),
            ));
        }
    }
    Ok(())
}

/// The first of `seats` (file order) holding the point `(x, y)`, in fractions of the frame.
pub fn seat_at(seats: &[SeatZone], x: f64, y: f64) -> Option<&SeatId> {
    seats.iter().find(|s| s.contains(x, y)).map(|s| &s.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(id: &str, rect: [f64; 4]) -> SeatZone {
        SeatZone {
            id: id.parse().expect("seat id"),
            rect,
        }
    }

    #[test]
    fn a_point_goes_to_the_first_zone_holding_it() {
        let seats = [
            zone("chair-1", [0.0, 0.2, 0.5, 0.6]),
            zone("chair-2", [0.4, 0.2, 0.6, 0.6]),
        ];
        assert_eq!(
            seat_at(&seats, 0.1, 0.5).map(SeatId::as_str),
            Some("chair-1")
        );
        assert_eq!(
            seat_at(&seats, 0.45, 0.5).map(SeatId::as_str),
            Some("chair-1")
        );
        assert_eq!(
            seat_at(&seats, 0.7, 0.5).map(SeatId::as_str),
            Some("chair-2")
        );
        assert_eq!(seat_at(&seats, 0.7, 0.1), None, "above both zones");
        assert_eq!(seat_at(&[], 0.5, 0.5), None, "no zones");
    }

    #[test]
    fn bad_zones_are_named_with_their_camera_and_seat() {
        let camera: CameraId = "cam-2".parse().expect("camera");
        check_seats(
            &camera,
            &[
                zone("a", [0.0, 0.0, 1.0, 1.0]),
                zone("b", [0.5, 0.5, 0.5, 0.5]),
            ],
        )
        .expect("whole frame and a corner are fine");
        for rect in [
            [0.6, 0.0, 0.5, 0.5],
            [-0.1, 0.0, 0.5, 0.5],
            [0.0, 0.0, 0.0, 0.5],
            [0.0, 0.9, 0.5, 0.2],
            [0.0, f64::NAN, 0.5, 0.5],
        ] {
            let err = check_seats(&camera, &[zone("chair-3", rect)]).expect_err("outside");
            assert_eq!(err.key, "camera.seats.rect", "{rect:?}");
            assert!(
                err.why.contains("cam-2") && err.why.contains("chair-3"),
                "{err}"
            );
        }
        let err = check_seats(
            &camera,
            &[
                zone("chair-3", [0.0, 0.0, 0.2, 0.2]),
                zone("chair-3", [0.5, 0.5, 0.2, 0.2]),
            ],
        )
        .expect_err("duplicate");
        assert_eq!(err.key, "camera.seats.id");
        assert!(
            err.why.contains("chair-3") && err.why.contains("cam-2"),
            "{err}"
        );
    }
}
