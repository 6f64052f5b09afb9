//! Callgrind's client requests (valgrind.h and callgrind.h), for `bench_inprocess instructions`:
//! instrument and count only the measured block of each operation, and dump it under its name.

// Written out here because the crates that offer them compile C against valgrind's headers, which
// every `cargo clippy --all-targets` would then need; it is four request codes and valgrind's
// documented x86-64 "special instruction" sequence. Outside valgrind the sequence does nothing
// (the four rotations of rdi add up to 128 bits and `xchg rbx, rbx` changes no register) and every
// request answers its default. On other architectures these are no-ops and `running_on_valgrind`
// is false.

const RUNNING_ON_VALGRIND: usize = 0x1001;
/// VG_USERREQ_TOOL_BASE('C', 'T'), callgrind's first request code.
const CALLGRIND_BASE: usize = ((b'C' as usize) << 24) | ((b'T' as usize) << 16);
const DUMP_STATS_AT: usize = CALLGRIND_BASE + 3;
const START_INSTRUMENTATION: usize = CALLGRIND_BASE + 4;
const STOP_INSTRUMENTATION: usize = CALLGRIND_BASE + 5;

#[cfg(target_arch = "x86_64")]
fn client_request(default: usize, code: usize, argument: usize) -> usize {
    let arguments: [usize; 6] = [code, argument, 0, 0, 0, 0];
    let mut result = default;
    // SAFETY: valgrind.h's VALGRIND_DO_CLIENT_REQUEST_EXPR for amd64. Natively it only rotates
    // rdi (declared clobbered) and the flags; under valgrind the core reads the six words at rax
    // (alive on this stack until the asm returns) and writes the answer to rdx.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") result,
            in("rax") arguments.as_ptr(),
            out("rdi") _,
            options(nostack),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(default: usize, _code: usize, _argument: usize) -> usize {
    default
}

/// True under valgrind (any tool).
pub fn running_on_valgrind() -> bool {
    client_request(0, RUNNING_ON_VALGRIND, 0) > 0
}

/// Callgrind starts instrumenting (and so counting) every thread's code.
pub fn start_instrumentation() {
    client_request(0, START_INSTRUMENTATION, 0);
}

/// Callgrind stops instrumenting: nothing after this is counted.
pub fn stop_instrumentation() {
    client_request(0, STOP_INSTRUMENTATION, 0);
}

/// Writes what callgrind counted since the last dump to a new file (`<out-file>.<n>`), its
/// trigger line naming `what`; the counters start again from zero.
pub fn dump_stats_at(what: &str) {
    let name = std::ffi::CString::new(what).expect("a name without NUL");
    client_request(0, DUMP_STATS_AT, name.as_ptr() as usize);
}
