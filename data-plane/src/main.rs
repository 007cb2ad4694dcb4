//! `portico-dp`: the data plane binary. All behaviour lives in the library.

/// mimalloc instead of the system allocator (see `data_plane::allocator`).
#[global_allocator]
static ALLOCATOR: data_plane::allocator::Mimalloc = data_plane::allocator::Mimalloc;

fn main() -> std::process::ExitCode {
    data_plane::cli::main()
}
