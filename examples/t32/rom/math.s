; T32 sample ROM: integer arithmetic (iterative and recursive).

.func fib_iter           ; r1 = fib(r1), iterative
    li r2, 0
    li r3, 1
fib_iter_loop:
    beqz r1, fib_iter_done
    add r4, r2, r3
    mov r2, r3
    mov r3, r4
    addi r1, r1, -1
    j fib_iter_loop
fib_iter_done:
    mov r1, r2
    ret

.func fib_rec            ; r1 = fib(r1), naive recursion
    li r2, 2
    bltu r1, r2, fib_rec_base
    push lr
    push r10
    push r11
    mov r10, r1
    addi r1, r10, -1
    call fib_rec
    mov r11, r1
    addi r1, r10, -2
    call fib_rec
    add r1, r1, r11
    pop r11
    pop r10
    pop lr
fib_rec_base:
    ret

.func gcd                ; binary (Stein) GCD of r1 and r2
    beqz r1, gcd_ret_b
    beqz r2, gcd_done
    li r5, 0
gcd_pow2:
    or r3, r1, r2
    andi r3, r3, 1
    bnez r3, gcd_odd_a
    shri r1, r1, 1
    shri r2, r2, 1
    addi r5, r5, 1
    j gcd_pow2
gcd_odd_a:
    andi r3, r1, 1
    bnez r3, gcd_loop
    shri r1, r1, 1
    j gcd_odd_a
gcd_loop:
    andi r3, r2, 1
    bnez r3, gcd_b_odd
    shri r2, r2, 1
    j gcd_loop
gcd_b_odd:
    bgeu r2, r1, gcd_sub
    mov r3, r1
    mov r1, r2
    mov r2, r3
gcd_sub:
    sub r2, r2, r1
    bnez r2, gcd_loop
    shl r1, r1, r5
    ret
gcd_ret_b:
    mov r1, r2
gcd_done:
    ret

.func udivmod            ; r1 / r2 -> r1 quotient, r2 remainder (r2 = 0: q = ~0, rem = r1)
    push lr
    push r10
    push r11
    bnez r2, udiv_go
    mov r2, r1
    li r1, -1
    j udiv_out
udiv_go:
    mov r10, r1
    mov r11, r2
    call clz
    li r4, 32
    sub r4, r4, r1
    shl r5, r10, r1
    li r1, 0
    li r2, 0
udiv_loop:
    beqz r4, udiv_out
    shli r2, r2, 1
    shri r6, r5, 31
    or r2, r2, r6
    shli r5, r5, 1
    shli r1, r1, 1
    bltu r2, r11, udiv_next
    sub r2, r2, r11
    ori r1, r1, 1
udiv_next:
    addi r4, r4, -1
    j udiv_loop
udiv_out:
    pop r11
    pop r10
    pop lr
    ret

.func isqrt              ; r1 = floor(sqrt(r1)), bit by bit
    li r2, 0
    lui r3, 0x4000
isqrt_shrink:
    bleu r3, r1, isqrt_loop
    shri r3, r3, 2
    bnez r3, isqrt_shrink
isqrt_loop:
    beqz r3, isqrt_done
    add r4, r2, r3
    bltu r1, r4, isqrt_else
    sub r1, r1, r4
    shri r2, r2, 1
    add r2, r2, r3
    j isqrt_next
isqrt_else:
    shri r2, r2, 1
isqrt_next:
    shri r3, r3, 2
    j isqrt_loop
isqrt_done:
    mov r1, r2
    ret

.func collatz            ; Collatz steps from r1 down to 1 (capped at 64)
    li r2, 0
    li r5, 64
collatz_loop:
    li r3, 1
    bleu r1, r3, collatz_done
    beq r2, r5, collatz_done
    andi r3, r1, 1
    beqz r3, collatz_even
    add r4, r1, r1
    add r1, r4, r1
    addi r1, r1, 1
    j collatz_next
collatz_even:
    shri r1, r1, 1
collatz_next:
    addi r2, r2, 1
    j collatz_loop
collatz_done:
    mov r1, r2
    ret

.func sum_rec            ; r1 + (r1 - 1) + ... + 1, recursively
    beqz r1, sum_rec_done
    push lr
    push r10
    mov r10, r1
    addi r1, r1, -1
    call sum_rec
    add r1, r1, r10
    pop r10
    pop lr
sum_rec_done:
    ret

.func pow_mod            ; r1 ^ r2 mod r3, square and multiply over udivmod
    push lr
    push r10
    push r11
    push r12
    push r13
    mov r11, r2
    mov r12, r3
    mov r2, r3
    call udivmod
    mov r10, r2
    li r13, 1
pow_mod_loop:
    beqz r11, pow_mod_done
    andi r5, r11, 1
    beqz r5, pow_mod_square
    mul r1, r13, r10
    mov r2, r12
    call udivmod
    mov r13, r2
pow_mod_square:
    mul r1, r10, r10
    mov r2, r12
    call udivmod
    mov r10, r2
    shri r11, r11, 1
    j pow_mod_loop
pow_mod_done:
    mov r1, r13
    pop r13
    pop r12
    pop r11
    pop r10
    pop lr
    ret

.func soft_mul           ; r1 * r2 by shift and add
    li r3, 0
soft_mul_loop:
    beqz r2, soft_mul_done
    andi r4, r2, 1
    beqz r4, soft_mul_skip
    add r3, r3, r1
soft_mul_skip:
    shli r1, r1, 1
    shri r2, r2, 1
    j soft_mul_loop
soft_mul_done:
    mov r1, r3
    ret

.func clamp              ; clamp signed r1 into [r2, r3]
    blt r1, r2, clamp_lo
    bgt r1, r3, clamp_hi
    ret
clamp_lo:
    mov r1, r2
    ret
clamp_hi:
    mov r1, r3
    ret
