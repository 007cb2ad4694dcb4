//! The data plane's global allocator: mimalloc, called through its C API.
//!
//! The request path allocates a handful of objects per request (futures, bodies, header
//! maps), and glibc's malloc/free cost about a fifth of the proxy's instructions per request
//! (bench/README.md). The `mimalloc` crate's allocator sends every allocation to
//! `mi_malloc_aligned`, whose fast path covers only blocks up to 1 KiB and whose other
//! path costs about 200 instructions; the request's future and context are larger. As the
//! standard library's `System` does with `malloc`, an alignment that `mi_malloc` already
//! guarantees (16 bytes, and at most the size) goes to the plain entry points.

// The one place the workspace allows `unsafe`: a global allocator cannot be written without it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// The alignment every `mi_malloc` block of at least this size has (`MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// mimalloc as a Rust global allocator.
pub struct Mimalloc;

fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc with at least the layout's alignment (the
// plain entry points only where `plain` holds), and every block is freed by `mi_free`,
// which takes blocks of any of these entry points.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation functions take any size and alignment.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract).
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's contract);
        // the new block keeps the alignment, as in `alloc`.
        unsafe {
            if plain(layout.align(), new_size) {
                mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aligned(ptr: *mut u8, align: usize) -> bool {
        !ptr.is_null() && (ptr as usize).is_multiple_of(align)
    }

    #[test]
    fn blocks_have_the_layouts_alignment_on_both_paths() {
        for (size, align) in [
            (1, 1),
            (8, 8),
            (24, 16),
            (4, 8),
            (3000, 16),
            (64, 64),
            (100, 128),
        ] {
            let layout = Layout::from_size_align(size, align).expect("layout");
            // SAFETY: a non-zero size; the block is freed with the same layout.
            unsafe {
                let ptr = Mimalloc.alloc(layout);
                assert!(aligned(ptr, align), "{size} bytes aligned to {align}");
                ptr.write_bytes(0xAB, size);
                Mimalloc.dealloc(ptr, layout);
                let zeroed = Mimalloc.alloc_zeroed(layout);
                assert!(aligned(zeroed, align));
                assert!(
                    std::slice::from_raw_parts(zeroed, size)
                        .iter()
                        .all(|&b| b == 0)
                );
                Mimalloc.dealloc(zeroed, layout);
            }
        }
    }

    #[test]
    fn realloc_keeps_the_contents_and_the_alignment() {
        for (size, align, new_size) in [(16, 8, 4096), (4096, 16, 8), (64, 64, 5000), (8, 16, 4)] {
            let layout = Layout::from_size_align(size, align).expect("layout");
            // SAFETY: non-zero sizes; the block is freed with its final layout.
            unsafe {
                let ptr = Mimalloc.alloc(layout);
                for i in 0..size {
                    ptr.add(i).write(i as u8);
                }
                let grown = Mimalloc.realloc(ptr, layout, new_size);
                assert!(
                    aligned(grown, align),
                    "{size} -> {new_size} aligned to {align}"
                );
                for i in 0..size.min(new_size) {
                    assert_eq!(grown.add(i).read(), i as u8);
                }
                let new_layout = Layout::from_size_align(new_size, align).expect("layout");
                Mimalloc.dealloc(grown, new_layout);
            }
        }
    }
}
