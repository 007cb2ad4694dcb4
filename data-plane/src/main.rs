//! `portico-dp`: the data plane binary. All behaviour lives in the library.

/// mimalloc instead of the system allocator: the request path allocates a few dozen small
/// objects per request (hyper's heads and bodies, header values, futures), and glibc's
/// malloc/free cost about a fifth of the proxy's instructions per request (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    data_plane::cli::main()
}
