//! Sketch state memory that PostgreSQL owns and accounts for.
//!
//! Aggregate states live in the aggregate's memory context, so hash aggregation counts them
//! against work_mem (and spills honestly), and an aborted query frees them with the context.

use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Layout};
use pgrx::pg_sys;

/// A PostgreSQL memory context that stays live as long as anything allocated here in it is
/// used (an aggregate's context for its states, a call site's for its cache).
#[derive(Clone, Copy)]
pub struct MemCtx(pg_sys::MemoryContext);

impl MemCtx {
    /// # Safety
    /// `ctx` is a live memory context, and outlives every value and allocator made from the
    /// returned handle.
    pub unsafe fn new(ctx: pg_sys::MemoryContext) -> Self {
        MemCtx(ctx)
    }

    pub fn raw(self) -> pg_sys::MemoryContext {
        self.0
    }

    pub fn allocator(self) -> PgAllocator {
        PgAllocator(self)
    }

    /// Moves `value` into the context and returns where it is, valid as long as the context.
    /// The value is never dropped: whatever it owns must itself be allocated in the context.
    pub fn leak<T>(self, value: T) -> *mut T {
        // SAFETY: the context is live (MemCtx::new); palloc returns MAXALIGN'd memory of the
        // size asked (or raises an ERROR), enough for any T of this crate (align <= 8).
        unsafe {
            let p = pg_sys::MemoryContextAlloc(self.0, std::mem::size_of::<T>()) as *mut T;
            p.write(value);
            p
        }
    }
}

/// An allocator over one PostgreSQL memory context. Memory is released with the context;
/// `deallocate` frees early when a buffer grows or a representation is replaced.
#[derive(Clone, Copy)]
pub struct PgAllocator(MemCtx);

/// palloc returns MAXALIGN (8-byte) aligned memory. Larger alignments (hashbrown's control
/// bytes want 16) are served from a larger chunk, with the chunk's address stored just before
/// the aligned block so that it can be freed.
const PALLOC_ALIGN: usize = 8;

impl PgAllocator {
    fn alloc_overaligned(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the chunk has room for PALLOC_ALIGN + align - 1 bytes of padding before the
        // aligned block, so the block and the pointer slot just before it (8-aligned: both
        // addresses are multiples of 8) are inside the chunk.
        unsafe {
            let raw = pg_sys::MemoryContextAlloc(
                self.0 .0,
                layout.size() + layout.align() + PALLOC_ALIGN,
            ) as *mut u8;
            let aligned = ((raw as usize + PALLOC_ALIGN + layout.align() - 1)
                & !(layout.align() - 1)) as *mut u8;
            (aligned as *mut *mut u8).sub(1).write(raw);
            aligned
        }
    }
}

// SAFETY: blocks stay valid until deallocated or the context is reset, which happens only
// after every state that owns this allocator is gone (MemCtx::new); copies of the allocator
// allocate from the same context, so any of them may free or grow a block.
unsafe impl Allocator for PgAllocator {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let ptr = if layout.align() > PALLOC_ALIGN {
            self.alloc_overaligned(layout)
        } else {
            // SAFETY: the context is live (MemCtx::new); palloc aligns to PALLOC_ALIGN.
            unsafe { pg_sys::MemoryContextAlloc(self.0 .0, layout.size().max(1)) as *mut u8 }
        };
        NonNull::new(ptr)
            .map(|p| NonNull::slice_from_raw_parts(p, layout.size()))
            .ok_or(AllocError)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `ptr` came from `allocate` with this layout (the Allocator contract): an
        // over-aligned block has its chunk's address just before it.
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
            // SAFETY: `ptr` holds `old.size()` bytes (the Allocator contract) and `fresh` at
            // least as many; the blocks are distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr() as *mut u8, old.size());
                self.deallocate(ptr, old);
            }
            return Ok(fresh);
        }
        // SAFETY: a block of PALLOC_ALIGN alignment is a palloc chunk, which repalloc grows.
        let p = unsafe { pg_sys::repalloc(ptr.as_ptr().cast(), new.size().max(1)) } as *mut u8;
        NonNull::new(p)
            .map(|p| NonNull::slice_from_raw_parts(p, new.size()))
            .ok_or(AllocError)
    }
}
