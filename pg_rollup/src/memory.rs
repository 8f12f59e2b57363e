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

/// palloc returns MAXALIGN (8-byte) aligned memory; nothing stored in a sketch needs more.
const PALLOC_ALIGN: usize = 8;

unsafe impl Allocator for PgAllocator {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.align() > PALLOC_ALIGN {
            return Err(AllocError);
        }
        // SAFETY: the context is live for as long as the state that owns this allocator.
        let ptr = unsafe { pg_sys::MemoryContextAlloc(self.0, layout.size().max(1)) } as *mut u8;
        NonNull::new(ptr).map(|p| NonNull::slice_from_raw_parts(p, layout.size())).ok_or(AllocError)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, _layout: Layout) {
        unsafe { pg_sys::pfree(ptr.as_ptr().cast()) }
    }

    unsafe fn grow(&self, ptr: NonNull<u8>, _old: Layout, new: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if new.align() > PALLOC_ALIGN {
            return Err(AllocError);
        }
        let p = unsafe { pg_sys::repalloc(ptr.as_ptr().cast(), new.size().max(1)) } as *mut u8;
        NonNull::new(p).map(|p| NonNull::slice_from_raw_parts(p, new.size())).ok_or(AllocError)
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
