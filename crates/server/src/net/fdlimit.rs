//! The process's open-files limit and `maxclients`, as Redis 7.2's adjustOpenFilesLimit:
//! each client needs a descriptor, and 32 more are kept for listeners, files and logs. When
//! the limit (`ulimit -n`) is below `maxclients + 32` it is raised; when it cannot be raised
//! that far, the highest value the system allows is taken and `maxclients` lowered to fit.

/// Descriptors kept for everything but clients (Redis's CONFIG_MIN_RESERVED_FDS).
pub const RESERVED_FDS: u64 = 32;

/// The outcome of [`adjust`].
#[derive(Debug, PartialEq, Eq)]
pub enum Adjusted {
    /// The limit was (or now is) high enough for `maxclients`.
    Fits,
    /// The limit could not be raised enough: `maxclients` must be lowered to this.
    Lowered(u64),
    /// Not even the reserved descriptors fit: the server cannot start.
    TooLow { current: u64, wanted: u64 },
}

/// Raises `RLIMIT_NOFILE` for `maxclients` clients if needed, logging as Redis does.
pub fn adjust(maxclients: u64) -> Adjusted {
    let wanted = maxclients.saturating_add(RESERVED_FDS);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == -1 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(
            "Unable to obtain the current NOFILE limit ({e}), assuming 1024 and setting the max clients configuration accordingly."
        );
        return if maxclients > 1024 - RESERVED_FDS {
            Adjusted::Lowered(1024 - RESERVED_FDS)
        } else {
            Adjusted::Fits
        };
    }
    let old: u64 = lim.rlim_cur;
    if old >= wanted {
        return Adjusted::Fits;
    }
    let mut best = wanted;
    let mut error = None;
    while best > old {
        let try_lim = libc::rlimit {
            rlim_cur: best,
            rlim_max: lim.rlim_max.max(best),
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &try_lim) } != -1 {
            break;
        }
        error = Some(std::io::Error::last_os_error());
        if best < 16 {
            best = old;
            break;
        }
        best -= 16;
    }
    let best = best.max(old);
    if best >= wanted {
        tracing::info!(
            "Increased maximum number of open files to {wanted} (it was originally set to {old})."
        );
        return Adjusted::Fits;
    }
    if best <= RESERVED_FDS {
        tracing::warn!(
            "Your current 'ulimit -n' of {old} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting."
        );
        return Adjusted::TooLow {
            current: old,
            wanted,
        };
    }
    let lowered = best - RESERVED_FDS;
    let error = error.map(|e| e.to_string()).unwrap_or_default();
    tracing::warn!(
        "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors."
    );
    tracing::warn!("Server can't set maximum open files to {wanted} because of OS error: {error}.");
    tracing::warn!(
        "Current maximum open files is {best}. maxclients has been reduced to {lowered} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    );
    Adjusted::Lowered(lowered)
}
