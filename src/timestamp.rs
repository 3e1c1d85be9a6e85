//! Time as the log and the status print it, formatted with integers only: float formatting
//! costs about 8 KiB of code on MIPS, where the binary is closest to its size limit.

/// An RFC 3339 UTC timestamp with milliseconds, as env_logger prints with its `humantime`
/// feature, written by hand: that feature pulls in a date-time crate (4.5 KiB of the MIPS
/// binary after LTO, and a dependency less to build).
pub struct UtcMillis(pub std::time::SystemTime);

impl std::fmt::Display for UtcMillis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self
            .0
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs();
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            since.subsec_millis()
        )
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's days-to-civil).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A duration in seconds with `decimals` (0..=3) digits after the point, rounded to nearest:
/// `Secs(d, 2)` prints `3.61`.
pub struct Secs(pub std::time::Duration, pub u8);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decimals = u32::from(self.1.min(3));
        let unit = 10u64.pow(decimals);
        let millis = self.0.as_secs() * 1000 + u64::from(self.0.subsec_millis());
        let step = 1000 / unit;
        let scaled = (millis + step / 2) / step;
        let (whole, frac) = (scaled / unit, scaled % unit);
        if decimals == 0 {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{frac:0width$}", width = decimals as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |s: u64, ms: u64| {
            UtcMillis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(s * 1000 + ms))
                .to_string()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_606_326, 123), "2026-11-25T11:32:06.123Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn seconds_round_to_the_decimals_asked() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(Secs(ms(3_614), 2).to_string(), "3.61");
        assert_eq!(Secs(ms(3_615), 2).to_string(), "3.62");
        assert_eq!(Secs(ms(12_349), 1).to_string(), "12.3");
        assert_eq!(Secs(ms(12_350), 1).to_string(), "12.4");
        assert_eq!(Secs(ms(9_996), 2).to_string(), "10.00");
        assert_eq!(Secs(ms(5), 1).to_string(), "0.0");
        assert_eq!(Secs(ms(1_500), 0).to_string(), "2");
        assert_eq!(Secs(ms(7), 3).to_string(), "0.007");
    }
}
