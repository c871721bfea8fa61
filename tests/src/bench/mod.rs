//! The benchmark of what matters on a village line and in a city's servers (issue 6): the
//! reconnect of a phone offline for a month (round trips, bytes), a new phone's first sync,
//! many phones reconnecting at once (throughput, latency, the server's memory) on SQLite and
//! PostgreSQL, the township report while the database holds a city, and the phone opening a
//! busy year and computing its figures.
//!
//! Every case builds its own data, runs on loopback, and reports through [`Figures`]. The
//! program is `src/bin/bench.rs`; `docs/PERFORMANCE.md` holds the results and the targets.

pub mod client;
pub mod data;
pub mod figures;
pub mod first_sync;
pub mod reconnect;
pub mod report;
pub mod server;
pub mod throughput;
pub mod wire;

pub use figures::Figures;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The scale.
    Full,
    /// Scaled down to finish in under two minutes (release build, two cores).
    Quick,
    /// Smallest: a check that every case works, for CI's debug build.
    Smoke,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Smoke => "smoke",
        }
    }
}

/// The sizes of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub mode: Mode,
    /// Villages of the throughput run; each has `phones_per_village` phones.
    pub sync_villages: usize,
    pub phones_per_village: usize,
    /// Villages in the database for the report; townships of `township_size` villages.
    pub city_villages: usize,
    pub township_size: usize,
    /// Township reports timed.
    pub report_samples: usize,
    /// Times the phone is opened and its figures computed.
    pub client_samples: usize,
}

impl Scale {
    pub fn of(mode: Mode) -> Scale {
        match mode {
            Mode::Full => Scale {
                mode,
                sync_villages: 100,
                phones_per_village: 2,
                city_villages: 1500,
                township_size: 20,
                report_samples: 60,
                client_samples: 20,
            },
            Mode::Quick => Scale {
                mode,
                sync_villages: 100,
                phones_per_village: 2,
                city_villages: 200,
                township_size: 20,
                report_samples: 30,
                client_samples: 10,
            },
            Mode::Smoke => Scale {
                mode,
                sync_villages: 4,
                phones_per_village: 2,
                city_villages: 40,
                township_size: 20,
                report_samples: 3,
                client_samples: 2,
            },
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "scale {}: reconnect 1 phone (a month: {} meetings x {} attendees, {} point entries, {} case steps); \
             throughput {} phones of {} villages ({} members each); report over a city of {} villages ({} townships \
             of {}, {} members each, one year of records)",
            self.mode.name(),
            data::MEETINGS_PER_MONTH,
            data::ATTENDEES,
            data::POINTS_PER_MONTH,
            data::STEPS_PER_MONTH,
            self.sync_villages * self.phones_per_village,
            self.sync_villages,
            data::MEMBERS,
            self.city_villages,
            self.city_villages.div_ceil(self.township_size),
            self.township_size,
            data::MEMBERS,
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "sync_phones": self.sync_villages * self.phones_per_village,
            "sync_villages": self.sync_villages,
            "city_villages": self.city_villages,
            "township_size": self.township_size,
            "members_per_village": data::MEMBERS,
            "report_samples": self.report_samples,
            "client_samples": self.client_samples,
        })
    }
}

/// The machine, for the record: CPU model, cores, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |s| s.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{model}, {cores} cores, {mem_gib:.0} GiB")
}

/// This year, as the server and the phones see it: the benchmark's records are dated in it.
pub fn year() -> zhibu_schema::Year {
    zhibu_server::api::this_year()
}
