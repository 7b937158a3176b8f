; T32 sample "game" ROM: entry point, game phases and the score mixer.
; Input vector r1..r4 (a, b, c, d); results go to the out log and to work RAM.
; Convention: args r1..r4, result r1, r1..r9 scratch, r10..r13 callee-saved.

.entry main

.equ G_IN,     0x4000      ; 4 words: the input vector
.equ G_SCORE,  0x4010      ; running score (mixed by score_mix)
.equ G_HANOI,  0x4014      ; tower-of-hanoi move checksum
.equ BUF,      0x4100      ; 16-word sort buffer
.equ COPYBUF,  0x4200      ; 16-word copy buffer
.equ TEXTBUF,  0x4280      ; 32-byte string buffer
.equ ENTS,     0x4300      ; 4 entities * (x, y, vx, vy)
.equ RLEBUF,   0x4400      ; decoded sprite (256 bytes max)
.equ HIST,     0x4600      ; 8-word tile histogram
.equ NENT,     4

.func main
    push lr
    li r5, G_IN
    st r1, 0(r5)
    st r2, 4(r5)
    st r3, 8(r5)
    st r4, 12(r5)
    li r6, 0x5A5
    st r6, 16(r5)
    st r0, 20(r5)
    call phase_math
    call phase_bits
    call phase_memory
    call phase_world
    call phase_script
    li r5, G_SCORE
    ld r1, 0(r5)
    out r1
    pop lr
    ret

.func report             ; out r1 and fold it into the score; returns r1 unchanged
    push lr
    push r10
    mov r10, r1
    out r1
    call score_mix
    mov r1, r10
    pop r10
    pop lr
    ret

.func score_mix          ; G_SCORE = mix32(G_SCORE ^ r1) + r1; returns the new score
    push lr
    push r10
    mov r10, r1
    li r5, G_SCORE
    ld r1, 0(r5)
    xor r1, r1, r10
    call mix32
    add r1, r1, r10
    li r5, G_SCORE
    st r1, 0(r5)
    pop r10
    pop lr
    ret

.func mix32              ; murmur3 finalizer of r1
    shri r2, r1, 16
    xor r1, r1, r2
    la r3, 0x85ebca6b
    mul r1, r1, r3
    shri r2, r1, 13
    xor r1, r1, r2
    la r3, 0xc2b2ae35
    mul r1, r1, r3
    shri r2, r1, 16
    xor r1, r1, r2
    ret

.func phase_math         ; arithmetic on a and b
    push lr
    push r10
    push r11
    li r5, G_IN
    ld r10, 0(r5)
    ld r11, 4(r5)
    andi r1, r10, 31
    call fib_iter
    call report
    andi r1, r11, 3
    addi r1, r1, 5
    call fib_rec
    call report
    mov r1, r10
    mov r2, r11
    call gcd
    call report
    li r5, G_IN
    ld r1, 8(r5)
    ld r2, 12(r5)
    andi r2, r2, 0xFF
    addi r2, r2, 1
    call udivmod
    shli r2, r2, 16
    xor r1, r1, r2
    call report
    mov r1, r10
    call isqrt
    call report
    andi r1, r11, 0xFF
    addi r1, r1, 1
    call collatz
    call report
    andi r1, r10, 15
    call sum_rec
    call report
    mov r1, r10
    andi r2, r11, 7
    li r3, 251
    call pow_mod
    call report
    mov r1, r10
    andi r2, r11, 0xFFF
    call soft_mul
    call report
    mov r1, r10
    li r2, -1000
    li r3, 1000
    call clamp
    call report
    pop r11
    pop r10
    pop lr
    ret

.func phase_bits         ; bit twiddling on a and b
    push lr
    push r10
    push r11
    li r5, G_IN
    ld r10, 0(r5)
    ld r11, 4(r5)
    mov r1, r10
    call popcount
    call report
    xor r1, r10, r11
    call popcount_tab
    call report
    mov r1, r11
    call clz
    call report
    mov r1, r10
    call ctz
    call report
    mov r1, r10
    call bitrev
    call report
    mov r1, r11
    call bswap
    call report
    mov r1, r10
    mov r2, r11
    andi r3, r11, 32
    call rotate
    call report
    xor r1, r10, r11
    call parity
    call report
    mov r1, r11
    call gray_check
    call report
    mov r1, r10
    mov r2, r11
    call sign_extend
    call report
    mov r1, r10
    mov r2, r11
    call morton16
    call report
    mov r1, r10
    mov r2, r11
    call compare_mix
    call report
    pop r11
    pop r10
    pop lr
    ret

.include "math.s"
.include "bits.s"
.include "mem.s"
.include "world.s"
.include "script.s"
.include "data.s"
