// Race-free "check the stop word, then enter the system call" for x86-64.
// Both functions take a SyscallFrame* (thread_state.h) in %rdi and return a
// RawResult in %rax:%rdx. Nothing between the check and `syscall` touches the
// stack, so the "stopped" exits can simply pop and return.

#define RSEQ_SIG 0x53053053
#define EINTR_NEG -4

        .text

// ---- rseq: the kernel moves an interrupted critical section to .Lrseq_abort.
        .globl  sv_stop_rseq_syscall
        .hidden sv_stop_rseq_syscall
        .type   sv_stop_rseq_syscall, @function
        .p2align 4
sv_stop_rseq_syscall:
        .cfi_startproc
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        movq    %rdi, %rbx              // frame; callee-saved, survives syscall
        movq    8(%rbx), %r12           // &rseq->rseq_cs of this thread
.Lrseq_enter:
        // Reload everything: after an abort the kernel may have rewritten %rax.
        movq    32(%rbx), %rax
        movq    40(%rbx), %rdi
        movq    48(%rbx), %rsi
        movq    56(%rbx), %rdx
        movq    64(%rbx), %r10
        movq    72(%rbx), %r8
        movq    80(%rbx), %r9
        movq    (%rbx), %r11            // stop word
        leaq    .Lrseq_cs_desc(%rip), %rcx
        // Arm: rseq->rseq_cs = &descriptor. The very next instruction must start
        // the section: preempted in between, the kernel would find the thread
        // outside it and disarm, leaving the check unprotected.
        movq    %rcx, (%r12)
.Lrseq_start:
        movq    24(%rbx), %rcx          // window spins
        cmpl    $0, (%r11)
        jne     .Lrseq_stopped
.Lrseq_spin:
        testq   %rcx, %rcx
        jz      .Lrseq_syscall
        pause
        decq    %rcx
        jmp     .Lrseq_spin
.Lrseq_syscall:
        syscall                         // the commit: last instruction of the section
.Lrseq_end:
        xorl    %edx, %edx
        popq    %r12
        .cfi_remember_state
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        ret
        .cfi_restore_state
        // The kernel checks that the 4 bytes before abort_ip hold the signature;
        // written as `ud1 RSEQ_SIG(%rip),%edi` so disassemblers show it.
        .byte   0x0f, 0xb9, 0x3d
        .long   RSEQ_SIG
.Lrseq_abort:
        // Preempted, migrated or signalled inside the section. Only a set stop
        // word means "stopped"; anything else restarts the section.
        movq    (%rbx), %r11
        cmpl    $0, (%r11)
        jne     .Lrseq_abort_stopped
        movq    16(%rbx), %r11
        incq    (%r11)                  // aborts[0]: restarts
        jmp     .Lrseq_enter
.Lrseq_abort_stopped:
        movq    16(%rbx), %r11
        incq    8(%r11)                 // aborts[1]: stops caught inside the section
.Lrseq_stopped:
        movq    $EINTR_NEG, %rax
        movl    $1, %edx
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        ret
        .cfi_endproc
        .size   sv_stop_rseq_syscall, .-sv_stop_rseq_syscall

// ---- signal-pc: the wake-up handler moves a thread whose instruction pointer is
// in [sv_stop_pc_begin, sv_stop_pc_syscall] to sv_stop_pc_stopped. The stub sets
// frame->in_stub (offset 88) on entry and clears it on both exits, so the handler
// can tell "elsewhere in this stub" (nothing to do: the check or the caller sees
// the stop word) from "in another signal's handler nested over it".
        .globl  sv_stop_pc_syscall
        .hidden sv_stop_pc_syscall
        .type   sv_stop_pc_syscall, @function
        .globl  sv_stop_pc_begin
        .hidden sv_stop_pc_begin
        .globl  sv_stop_pc_syscall_insn
        .hidden sv_stop_pc_syscall_insn
        .globl  sv_stop_pc_stopped
        .hidden sv_stop_pc_stopped
        .p2align 4
sv_stop_pc_syscall:
        .cfi_startproc
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        movq    %rdi, %rbx
        movq    88(%rbx), %r11
        movb    $1, (%r11)              // in_stub = 1
        movq    32(%rbx), %rax
        movq    40(%rbx), %rdi
        movq    48(%rbx), %rsi
        movq    56(%rbx), %rdx
        movq    64(%rbx), %r10
        movq    72(%rbx), %r8
        movq    80(%rbx), %r9
        movq    (%rbx), %r11
        movq    24(%rbx), %rcx
sv_stop_pc_begin:
        cmpl    $0, (%r11)
        jne     sv_stop_pc_stopped
.Lpc_spin:
        testq   %rcx, %rcx
        jz      sv_stop_pc_syscall_insn
        pause
        decq    %rcx
        jmp     .Lpc_spin
sv_stop_pc_syscall_insn:
        syscall
        xorl    %edx, %edx
        movq    88(%rbx), %rcx
        movb    $0, (%rcx)              // in_stub = 0
        popq    %rbx
        .cfi_remember_state
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        ret
        .cfi_restore_state
sv_stop_pc_stopped:
        movq    $EINTR_NEG, %rax
        movl    $1, %edx
        movq    88(%rbx), %rcx
        movb    $0, (%rcx)              // in_stub = 0
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        ret
        .cfi_endproc
        .globl  sv_stop_pc_end
        .hidden sv_stop_pc_end
sv_stop_pc_end:
        .size   sv_stop_pc_syscall, .-sv_stop_pc_syscall

// struct rseq_cs { u32 version, flags; u64 start_ip, post_commit_offset, abort_ip; }
        .section .data.rel.ro, "aw"
        .balign 32
.Lrseq_cs_desc:
        .long   0, 0
        .quad   .Lrseq_start, .Lrseq_end - .Lrseq_start, .Lrseq_abort

        .section .note.GNU-stack, "", @progbits
