/* <pthread.h>: a vmm guest is one WASI preview 1 instance, which has no threads. */
#error "<pthread.h>: vmm guests have no threads (wasm32-wasi preview 1 has none); build the program without pthreads"
