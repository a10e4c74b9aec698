//! Times as people read them in logs and reports: `2026-12-04 19:50:01 UTC`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time `unix_seconds` after (or, negative, before) 1970-01-01 UTC; the
/// epoch itself where the system's clock type cannot hold it.
pub fn from_unix_seconds(unix_seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(unix_seconds.unsigned_abs());
    if unix_seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// `time` as `YYYY-MM-DD hh:mm:ss UTC` (times before 1970 too).
pub fn format(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_utc() {
        assert_eq!(format(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(format(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661)), "2000-02-29 01:01:01 UTC");
        assert_eq!(format(UNIX_EPOCH + Duration::from_secs(4_102_444_799)), "2099-12-31 23:59:59 UTC");
        assert_eq!(format(UNIX_EPOCH - Duration::from_secs(86_400)), "1969-12-31 00:00:00 UTC");
    }
}
