; T32 sample ROM: memory, strings, checksums and sorting.

.func phase_memory       ; sort random words, copy them, hash strings and ROM assets
    push lr
    push r10
    li r5, G_IN
    ld r10, 4(r5)
    ld r1, 0(r5)
    ld r2, 8(r5)
    xor r3, r1, r2
    li r1, BUF
    li r2, 12
    call fill_random
    li r1, BUF
    li r2, 12
    call insertion_sort
    li r1, BUF
    li r2, 12
    call is_sorted
    call report
    li r1, COPYBUF
    li r2, BUF
    li r3, 12
    call memcpy_w
    li r1, COPYBUF
    li r2, 12
    call reverse_w
    li r5, COPYBUF
    ld r1, 0(r5)
    call report
    li r1, str_title
    call strlen
    call report
    li r1, TEXTBUF
    li r2, str_player
    li r3, 11
    call memcpy_b
    li r1, TEXTBUF
    li r2, str_title
    call strcmp
    call report
    li r1, str_over
    call fnv1a
    call report
    li r1, crc_msg
    li r2, 12
    call crc32_buf
    call report
    li r1, level_map
    li r2, 48
    call adler32
    call report
    andi r1, r10, 31
    call lookup_key
    call binsearch
    call report
    li r1, HIST
    li r2, 0x0C0C
    li r3, 8
    call memset_w
    pop r10
    pop lr
    ret

.func strlen             ; length of the NUL-terminated string at r1
    mov r2, r1
strlen_loop:
    ldb r3, 0(r2)
    beqz r3, strlen_done
    addi r2, r2, 1
    j strlen_loop
strlen_done:
    sub r1, r2, r1
    ret

.func strcmp             ; *a - *b at the first difference of strings r1, r2 (0 if equal)
strcmp_loop:
    ldb r3, 0(r1)
    ldb r4, 0(r2)
    bne r3, r4, strcmp_diff
    beqz r3, strcmp_diff
    addi r1, r1, 1
    addi r2, r2, 1
    j strcmp_loop
strcmp_diff:
    sub r1, r3, r4
    ret

.func memcpy_w           ; copy r3 words from r2 to r1; returns r1
    mov r4, r1
memcpy_w_loop:
    beqz r3, memcpy_w_done
    ld r5, 0(r2)
    st r5, 0(r4)
    addi r2, r2, 4
    addi r4, r4, 4
    addi r3, r3, -1
    j memcpy_w_loop
memcpy_w_done:
    ret

.func memcpy_b           ; copy r3 bytes from r2 to r1; returns r1
    mov r4, r1
memcpy_b_loop:
    beqz r3, memcpy_b_done
    ldb r5, 0(r2)
    stb r5, 0(r4)
    addi r2, r2, 1
    addi r4, r4, 1
    addi r3, r3, -1
    j memcpy_b_loop
memcpy_b_done:
    ret

.func memset_w           ; store r2 into r3 words at r1
    mov r4, r1
memset_w_loop:
    beqz r3, memset_w_done
    st r2, 0(r4)
    addi r4, r4, 4
    addi r3, r3, -1
    j memset_w_loop
memset_w_done:
    ret

.func reverse_w          ; reverse r2 words at r1 in place
    beqz r2, reverse_w_done
    shli r3, r2, 2
    add r3, r3, r1
    addi r3, r3, -4
reverse_w_loop:
    bgeu r1, r3, reverse_w_done
    ld r4, 0(r1)
    ld r5, 0(r3)
    st r5, 0(r1)
    st r4, 0(r3)
    addi r1, r1, 4
    addi r3, r3, -4
    j reverse_w_loop
reverse_w_done:
    ret

.func is_sorted          ; 1 if the r2 signed words at r1 ascend, else 0
    li r3, 1
    bleu r2, r3, is_sorted_yes
    addi r2, r2, -1
is_sorted_loop:
    ld r4, 0(r1)
    ld r5, 4(r1)
    blt r5, r4, is_sorted_no
    addi r1, r1, 4
    addi r2, r2, -1
    bnez r2, is_sorted_loop
is_sorted_yes:
    li r1, 1
    ret
is_sorted_no:
    li r1, 0
    ret

.func insertion_sort     ; sort the r2 signed words at r1 ascending
    li r3, 1
isort_outer:
    bgeu r3, r2, isort_done
    shli r4, r3, 2
    add r4, r4, r1
    ld r5, 0(r4)
    mov r6, r4
isort_inner:
    beq r6, r1, isort_place
    ld r7, -4(r6)
    ble r7, r5, isort_place
    st r7, 0(r6)
    addi r6, r6, -4
    j isort_inner
isort_place:
    st r5, 0(r6)
    addi r3, r3, 1
    j isort_outer
isort_done:
    ret

.func lookup_key         ; r1 < 16: sorted_keys[r1] (a hit), else a value between keys (a miss)
    li r2, 16
    bgeu r1, r2, lookup_key_miss
    shli r1, r1, 2
    li r2, sorted_keys
    add r1, r1, r2
    ld r1, 0(r1)
    ret
lookup_key_miss:
    shli r1, r1, 7
    addi r1, r1, -3001
    ret

.func binsearch          ; index of r1 in the 16 sorted signed words at sorted_keys, or -1
    li r2, 0
    li r3, 16
    li r6, sorted_keys
binsearch_loop:
    bge r2, r3, binsearch_miss
    add r4, r2, r3
    shri r4, r4, 1
    shli r5, r4, 2
    add r5, r5, r6
    ld r5, 0(r5)
    beq r5, r1, binsearch_hit
    blt r5, r1, binsearch_right
    mov r3, r4
    j binsearch_loop
binsearch_right:
    addi r2, r4, 1
    j binsearch_loop
binsearch_hit:
    mov r1, r4
    ret
binsearch_miss:
    li r1, -1
    ret

.func fill_random        ; r2 words at r1 from xorshift32 seeded with r3 (0 becomes 1)
    push lr
    push r10
    push r11
    push r12
    mov r10, r1
    mov r11, r2
    bnez r3, fill_random_seeded
    li r3, 1
fill_random_seeded:
    mov r12, r3
fill_random_loop:
    beqz r11, fill_random_done
    mov r1, r12
    call xorshift32
    mov r12, r1
    st r1, 0(r10)
    addi r10, r10, 4
    addi r11, r11, -1
    j fill_random_loop
fill_random_done:
    pop r12
    pop r11
    pop r10
    pop lr
    ret

.func xorshift32         ; next xorshift32 state after r1
    shli r2, r1, 13
    xor r1, r1, r2
    shri r2, r1, 17
    xor r1, r1, r2
    shli r2, r1, 5
    xor r1, r1, r2
    ret

.func crc32_update       ; bitwise CRC-32 (reflected, poly 0xEDB88320) of byte r2 into r1
    xor r1, r1, r2
    la r4, 0xEDB88320
    li r3, 8
crc32_update_loop:
    andi r5, r1, 1
    shri r1, r1, 1
    beqz r5, crc32_update_next
    xor r1, r1, r4
crc32_update_next:
    addi r3, r3, -1
    bnez r3, crc32_update_loop
    ret

.func crc32_buf          ; CRC-32 of the r2 bytes at r1
    push lr
    push r10
    push r11
    mov r10, r1
    mov r11, r2
    li r1, -1
crc32_buf_loop:
    beqz r11, crc32_buf_done
    ldb r2, 0(r10)
    call crc32_update
    addi r10, r10, 1
    addi r11, r11, -1
    j crc32_buf_loop
crc32_buf_done:
    li r2, -1
    xor r1, r1, r2
    pop r11
    pop r10
    pop lr
    ret

.func fnv1a              ; FNV-1a hash of the NUL-terminated string at r1
    la r2, 2166136261
    la r3, 16777619
fnv1a_loop:
    ldb r4, 0(r1)
    beqz r4, fnv1a_done
    xor r2, r2, r4
    mul r2, r2, r3
    addi r1, r1, 1
    j fnv1a_loop
fnv1a_done:
    mov r1, r2
    ret

.func adler32            ; Adler-32 of the r2 bytes at r1 (short input: one reduction at the end)
    push lr
    push r10
    push r11
    mov r5, r1
    mov r6, r2
    li r10, 1
    li r11, 0
adler32_loop:
    beqz r6, adler32_reduce
    ldb r3, 0(r5)
    add r10, r10, r3
    add r11, r11, r10
    addi r5, r5, 1
    addi r6, r6, -1
    j adler32_loop
adler32_reduce:
    mov r1, r10
    la r2, 65521
    call udivmod
    mov r10, r2
    mov r1, r11
    la r2, 65521
    call udivmod
    shli r1, r2, 16
    or r1, r1, r10
    pop r11
    pop r10
    pop lr
    ret
