; T32 sample ROM: bit twiddling.

.func clz                ; count leading zeros of r1 (32 for zero)
    li r2, 32
    beqz r1, clz_done
    li r2, 0
    shri r3, r1, 16
    bnez r3, clz_8
    addi r2, r2, 16
    shli r1, r1, 16
clz_8:
    shri r3, r1, 24
    bnez r3, clz_4
    addi r2, r2, 8
    shli r1, r1, 8
clz_4:
    shri r3, r1, 28
    bnez r3, clz_2
    addi r2, r2, 4
    shli r1, r1, 4
clz_2:
    shri r3, r1, 30
    bnez r3, clz_1
    addi r2, r2, 2
    shli r1, r1, 2
clz_1:
    shri r3, r1, 31
    bnez r3, clz_done
    addi r2, r2, 1
clz_done:
    mov r1, r2
    ret

.func popcount           ; set bits of r1 (Kernighan)
    li r2, 0
popcount_loop:
    beqz r1, popcount_done
    addi r3, r1, -1
    and r1, r1, r3
    addi r2, r2, 1
    j popcount_loop
popcount_done:
    mov r1, r2
    ret

.func popcount_tab       ; set bits of r1 via the nibble table in ROM data
    li r2, 0
    li r4, nibble_pop
    li r5, 8
popcount_tab_loop:
    andi r3, r1, 15
    add r3, r3, r4
    ldb r3, 0(r3)
    add r2, r2, r3
    shri r1, r1, 4
    addi r5, r5, -1
    bnez r5, popcount_tab_loop
    mov r1, r2
    ret

.func ctz                ; trailing zeros = popcount((x & -x) - 1); 32 for zero
    push lr
    neg r2, r1
    and r1, r1, r2
    addi r1, r1, -1
    call popcount_tab
    pop lr
    ret

.func bitrev             ; reverse the 32 bits of r1
    li r2, 0
    li r3, 32
bitrev_loop:
    shli r2, r2, 1
    andi r4, r1, 1
    or r2, r2, r4
    shri r1, r1, 1
    addi r3, r3, -1
    bnez r3, bitrev_loop
    mov r1, r2
    ret

.func bswap              ; byte-swap r1
    shli r2, r1, 24
    shri r3, r1, 24
    or r2, r2, r3
    andi r3, r1, 0xFF00
    shli r3, r3, 8
    or r2, r2, r3
    shri r3, r1, 8
    andi r3, r3, 0xFF00
    or r1, r2, r3
    ret

.func rotate             ; rotate r1 by r2 bits: left if r3 == 0, else right
    andi r2, r2, 31
    beqz r2, rotate_done
    beqz r3, rotate_left
    li r4, 32
    sub r2, r4, r2
rotate_left:
    shl r4, r1, r2
    li r5, 32
    sub r5, r5, r2
    shr r5, r1, r5
    or r1, r4, r5
rotate_done:
    ret

.func parity             ; xor of all bits of r1
    shri r2, r1, 16
    xor r1, r1, r2
    shri r2, r1, 8
    xor r1, r1, r2
    shri r2, r1, 4
    xor r1, r1, r2
    shri r2, r1, 2
    xor r1, r1, r2
    shri r2, r1, 1
    xor r1, r1, r2
    andi r1, r1, 1
    ret

.func gray_check         ; Gray-encode r1, decode it again; returns code, bit 31 flags a mismatch
    shri r2, r1, 1
    xor r2, r1, r2
    mov r3, r2
    mov r4, r2
gray_check_loop:
    shri r4, r4, 1
    beqz r4, gray_check_cmp
    xor r3, r3, r4
    j gray_check_loop
gray_check_cmp:
    mov r1, r2
    beq r3, r1, gray_check_ok
    lui r5, 0x8000
    or r1, r1, r5
gray_check_ok:
    ret

.func sign_extend        ; sign-extend the low (r2 & 31) bits of r1 (0 means all 32); the only `sar`
    andi r2, r2, 31
    beqz r2, sign_extend_done
    li r3, 32
    sub r3, r3, r2
    shl r1, r1, r3
    sar r1, r1, r3
sign_extend_done:
    ret

.func morton16           ; interleave the low 16 bits of r1 (even) and r2 (odd)
    li r3, 0
    li r4, 0
    li r7, 16
morton16_loop:
    shr r5, r1, r4
    andi r5, r5, 1
    add r6, r4, r4
    shl r5, r5, r6
    or r3, r3, r5
    shr r5, r2, r4
    andi r5, r5, 1
    addi r6, r6, 1
    shl r5, r5, r6
    or r3, r3, r5
    addi r4, r4, 1
    bne r4, r7, morton16_loop
    mov r1, r3
    ret

.func compare_mix        ; signed/unsigned orderings of r1, r2 packed into 4 flag bits
    slt r3, r1, r2
    slt r4, r2, r1
    sltu r5, r1, r2
    sltu r6, r2, r1
    shli r4, r4, 1
    shli r5, r5, 2
    shli r6, r6, 3
    or r3, r3, r4
    or r3, r3, r5
    or r1, r3, r6
    ret
