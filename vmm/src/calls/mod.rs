//! The calls guests make: the `mmap` family and the POSIX locks ([`mmap`]), SysV shared memory
//! ([`shm`]), and removing mappings, ending attachments and destroying segments ([`unmap`]).

pub mod mmap;
pub mod shm;
pub mod unmap;
