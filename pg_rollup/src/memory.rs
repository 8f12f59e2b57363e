//! Sketch state memory that PostgreSQL owns and accounts for.
//!
//! Aggregate states live in the aggregate's memory context, so hash aggregation counts them
//! against work_mem (and spills honestly), and an aborted query frees them with the context.

use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Layout};
use pgrx::pg_sys;

/// An allocator over one PostgreSQL memory context. Memory is released with the context;
/// `deallocate` frees early when a buffer grows or a representation is replaced.
#[derive(Clone, Copy)]
pub struct PgAllocator(pub pg_sys::MemoryContext);

/// palloc returns MAXALIGN (8-byte) aligned memory. Larger alignments (hashbrown's control
/// bytes want 16) are served from a larger chunk, with the chunk's address stored just before
/// the aligned block so that it can be freed.
const PALLOC_ALIGN: usize = 8;

impl PgAllocator {
    fn alloc_overaligned(&self, layout: Layout) -> *mut u8 {
        unsafe {
            let raw =
                pg_sys::MemoryContextAlloc(self.0, layout.size() + layout.align() + PALLOC_ALIGN)
                    as *mut u8;
            let aligned = ((raw as usize + PALLOC_ALIGN + layout.align() - 1)
                & !(layout.align() - 1)) as *mut u8;
            (aligned as *mut *mut u8).sub(1).write(raw);
            aligned
        }
    }
}

unsafe impl Allocator for PgAllocator {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let ptr = if layout.align() > PALLOC_ALIGN {
            self.alloc_overaligned(layout)
        } else {
            // SAFETY: the context is live for as long as the state that owns this allocator.
            unsafe { pg_sys::MemoryContextAlloc(self.0, layout.size().max(1)) as *mut u8 }
        };
        NonNull::new(ptr)
            .map(|p| NonNull::slice_from_raw_parts(p, layout.size()))
            .ok_or(AllocError)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        unsafe {
            if layout.align() > PALLOC_ALIGN {
                pg_sys::pfree((ptr.as_ptr() as *mut *mut u8).sub(1).read().cast());
            } else {
                pg_sys::pfree(ptr.as_ptr().cast());
            }
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.align() > PALLOC_ALIGN || new.align() > PALLOC_ALIGN {
            let fresh = self.allocate(new)?;
            unsafe {
                std::ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr() as *mut u8, old.size());
                self.deallocate(ptr, old);
            }
            return Ok(fresh);
        }
        let p = unsafe { pg_sys::repalloc(ptr.as_ptr().cast(), new.size().max(1)) } as *mut u8;
        NonNull::new(p)
            .map(|p| NonNull::slice_from_raw_parts(p, new.size()))
            .ok_or(AllocError)
    }
}

/// Moves `value` into `ctx` and returns a pointer that lives as long as the context. The value
/// is never dropped: whatever it owns must itself be allocated in `ctx`.
pub fn leak_into<T>(ctx: pg_sys::MemoryContext, value: T) -> *mut T {
    unsafe {
        let p = pg_sys::MemoryContextAlloc(ctx, std::mem::size_of::<T>()) as *mut T;
        p.write(value);
        p
    }
}
