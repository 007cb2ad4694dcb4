//! Kong's fixed windows: the start of the current second, minute, hour, day, month and
//! year in UTC (`kong.tools.timestamp.get_timestamps`), and each period's expiration.

use crate::plugins::clock::{civil_from_days, days_from_civil};

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

/// The end of the window of `period` containing `now` (Unix seconds): where the next one
/// starts. (Kong's sync uses the start plus the period's expiration, which ends a 31-day
/// month, or a leap year, a day early.)
pub fn window_end(period: Period, now: i64) -> i64 {
    let start = period_start(period, now);
    match period {
        Period::Month | Period::Year => {
            let (year, month) = civil_from_days(start.div_euclid(86_400));
            let (year, month) = match (period, month) {
                (Period::Month, 12) => (year + 1, 1),
                (Period::Month, m) => (year, m + 1),
                _ => (year + 1, 1),
            };
            days_from_civil(year, month, 1) * 86_400
        }
        _ => start + period.expiration() as i64,
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

    #[test]
    fn windows_end_where_the_next_ones_start() {
        // 2024-12-31T13:45:30Z
        let now = 1_735_652_730;
        assert_eq!(window_end(Period::Second, now), now + 1);
        assert_eq!(window_end(Period::Minute, now), 1_735_652_760);
        assert_eq!(window_end(Period::Day, now), 1_735_689_600);
        // 2025-01-01T00:00:00Z: a 31-day month and a leap year end there.
        assert_eq!(window_end(Period::Month, now), 1_735_689_600);
        assert_eq!(window_end(Period::Year, now), 1_735_689_600);
        // 2024-02-29T13:45:30Z: February ends on 2024-03-01T00:00:00Z.
        assert_eq!(window_end(Period::Month, 1_709_214_330), 1_709_251_200);
    }
}
