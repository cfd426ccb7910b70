/* <setjmp.h>: wasm32-wasi as vmm builds it (clang without wasm exception handling) has no
 * setjmp or longjmp. */
#error "<setjmp.h>: vmm guests have no setjmp/longjmp (wasm32-wasi without exception handling)"
