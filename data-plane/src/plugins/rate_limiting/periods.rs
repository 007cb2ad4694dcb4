//! Kong's fixed windows: the start of the current second, minute, hour, day, month and
//! year in UTC (`kong.tools.timestamp.get_timestamps`), and each period's expiration.

/// The periods in Kong's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Period {
    pub const ALL: [Period; 6] = [
        Period::Second,
        Period::Minute,
        Period::Hour,
        Period::Day,
        Period::Month,
        Period::Year,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
            Period::Year => "year",
        }
    }

    /// Kong's `expiration.lua`, in seconds.
    pub fn expiration(self) -> u64 {
        match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86400,
            Period::Month => 2_592_000,
            Period::Year => 31_536_000,
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month) of a day number.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// The start of `period` containing `now` (Unix seconds), in Unix seconds.
pub fn period_start(period: Period, now: i64) -> i64 {
    let day_start = now - now.rem_euclid(86_400);
    match period {
        Period::Second => now,
        Period::Minute => now - now.rem_euclid(60),
        Period::Hour => now - now.rem_euclid(3600),
        Period::Day => day_start,
        Period::Month | Period::Year => {
            let (year, month) = civil_from_days(day_start.div_euclid(86_400));
            let month = if period == Period::Year { 1 } else { month };
            days_from_civil(year, month, 1) * 86_400
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_where_kongs_do() {
        // 2024-02-29T13:45:30Z
        let now = 1_709_214_330;
        assert_eq!(period_start(Period::Second, now), now);
        assert_eq!(period_start(Period::Minute, now), 1_709_214_300);
        assert_eq!(period_start(Period::Hour, now), 1_709_211_600);
        assert_eq!(period_start(Period::Day, now), 1_709_164_800);
        // 2024-02-01T00:00:00Z and 2024-01-01T00:00:00Z
        assert_eq!(period_start(Period::Month, now), 1_706_745_600);
        assert_eq!(period_start(Period::Year, now), 1_704_067_200);
    }
}
