//! The calls guests make: the `mmap` family and the POSIX locks ([`mmap`]), SysV shared memory
//! ([`shm`]), removing mappings, ending attachments and destroying segments ([`unmap`]), and
//! the process around them: ids, capabilities and resource limits ([`process`]).

pub mod mmap;
pub mod process;
pub mod shm;
pub mod unmap;
