// clone3 with a child that runs a function on its own stack, for x86-64: what
// CLONE_VM needs and the syscall() wrapper cannot give (its child would
// return into the parent's frame). Used by supervisor/spawn.cc.
//
// long sv_clone3_run(struct clone_args* args, size_t size, int (*fn)(void*), void* arg)
// Parent: returns the child's pid, or -errno. Child: runs fn(arg) on the stack
// args describes and exits with its result if it returns.

        .text
        .globl  sv_clone3_run
        .hidden sv_clone3_run
        .type   sv_clone3_run, @function
        .p2align 4
sv_clone3_run:
        .cfi_startproc
        // r8/r9 survive `syscall`, and the child starts with the same registers.
        movq    %rdx, %r8
        movq    %rcx, %r9
        movl    $435, %eax              // SYS_clone3
        syscall
        testq   %rax, %rax
        jz      1f
        ret
1:
        // The child, on its own 16-byte aligned stack: no frame to return to.
        .cfi_undefined rip
        xorl    %ebp, %ebp
        movq    %r9, %rdi
        call    *%r8
        movl    %eax, %edi
        movl    $60, %eax               // SYS_exit
        syscall
        hlt
        .cfi_endproc
        .size   sv_clone3_run, .-sv_clone3_run

        .section .note.GNU-stack, "", @progbits
