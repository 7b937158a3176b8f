; T32 sample ROM: the "game" world: entities, physics, collisions and asset decoding.

.func phase_world        ; spawn entities, simulate frames, decode and scan assets
    push lr
    push r10
    push r11
    li r5, G_IN
    ld r10, 8(r5)
    ld r11, 12(r5)
    mov r1, r10
    call spawn_entities
    andi r1, r11, 3
    addi r1, r1, 3
    call world_tick
    call count_collisions
    call report
    li r1, ENTS
    li r2, 16
    call table_sum
    call report
    li r1, RLEBUF
    li r2, rle_sprite
    call rle_decode
    call report
    li r1, level_map
    li r2, 48
    call level_histogram
    call report
    li r1, weights
    li r2, HIST
    li r3, 8
    call dot_product
    call report
    mov r1, r10
    call palette_hash
    call report
    li r1, sine_tab
    li r2, 65
    call table_sum
    call report
    andi r1, r11, 3
    addi r1, r1, 1
    li r2, 1
    li r3, 3
    li r4, 2
    call hanoi
    li r5, G_HANOI
    ld r1, 0(r5)
    call report
    pop r11
    pop r10
    pop lr
    ret

.func spawn_entities     ; copy the 4 entity records from ROM data to ENTS, jitter by seed r1
    push lr
    push r10
    push r11
    mov r10, r1
    li r1, ENTS
    li r2, enemy_init
    li r3, 16
    call memcpy_w
    li r11, ENTS
spawn_entities_loop:
    mov r1, r10
    call lcg_next
    mov r10, r1
    shri r1, r1, 24
    ld r2, 0(r11)
    add r2, r2, r1
    st r2, 0(r11)
    addi r11, r11, 16
    li r2, ENTS+64
    bne r11, r2, spawn_entities_loop
    pop r11
    pop r10
    pop lr
    ret

.func lcg_next           ; next state of the ANSI C linear congruential generator
    la r2, 1103515245
    mul r1, r1, r2
    li r3, 12345
    add r1, r1, r3
    ret

.func entity_step        ; one physics frame for the entity at r1 (x, y, vx, vy)
    push lr
    push r10
    mov r10, r1
    ld r2, 0(r10)
    ld r3, 8(r10)
    add r2, r2, r3
    ld r4, 4(r10)
    ld r5, 12(r10)
    addi r5, r5, 3
    sari r6, r5, 3
    sub r5, r5, r6
    add r4, r4, r5
    st r5, 12(r10)
    st r4, 4(r10)
    blt r2, r0, entity_step_bounce
    li r7, 1000
    ble r2, r7, entity_step_x_ok
entity_step_bounce:
    neg r3, r3
    st r3, 8(r10)
    mov r1, r2
    li r2, 0
    li r3, 1000
    call clamp
    mov r2, r1
entity_step_x_ok:
    st r2, 0(r10)
    ld r4, 4(r10)
    li r7, 800
    ble r4, r7, entity_step_done
    st r7, 4(r10)
    ld r5, 12(r10)
    sari r5, r5, 1
    neg r5, r5
    st r5, 12(r10)
entity_step_done:
    pop r10
    pop lr
    ret

.func world_tick         ; run r1 frames over the entities at ENTS
    push lr
    push r10
    push r11
    mov r10, r1
world_tick_frame:
    beqz r10, world_tick_done
    li r11, ENTS
world_tick_entity:
    mov r1, r11
    call entity_step
    addi r11, r11, 16
    li r2, ENTS+64
    bne r11, r2, world_tick_entity
    addi r10, r10, -1
    j world_tick_frame
world_tick_done:
    pop r11
    pop r10
    pop lr
    ret

.func aabb_overlap       ; 1 if the 64x64 boxes of entities r1 and r2 overlap
    ld r3, 0(r1)
    ld r4, 0(r2)
    sub r3, r3, r4
    bge r3, r0, aabb_overlap_xpos
    neg r3, r3
aabb_overlap_xpos:
    li r5, 64
    bge r3, r5, aabb_overlap_no
    ld r3, 4(r1)
    ld r4, 4(r2)
    sub r3, r3, r4
    bge r3, r0, aabb_overlap_ypos
    neg r3, r3
aabb_overlap_ypos:
    bge r3, r5, aabb_overlap_no
    li r1, 1
    ret
aabb_overlap_no:
    li r1, 0
    ret

.func count_collisions   ; overlapping pairs among the entities at ENTS
    push lr
    push r10
    push r11
    push r12
    li r12, 0
    li r10, ENTS
count_collisions_i:
    addi r11, r10, 16
count_collisions_j:
    li r2, ENTS+64
    beq r11, r2, count_collisions_next
    mov r1, r10
    mov r2, r11
    call aabb_overlap
    add r12, r12, r1
    addi r11, r11, 16
    j count_collisions_j
count_collisions_next:
    addi r10, r10, 16
    li r2, ENTS+48
    bne r10, r2, count_collisions_i
    mov r1, r12
    pop r12
    pop r11
    pop r10
    pop lr
    ret

.func table_sum          ; sum of the r2 words at r1
    li r3, 0
table_sum_loop:
    beqz r2, table_sum_done
    ld r4, 0(r1)
    add r3, r3, r4
    addi r1, r1, 4
    addi r2, r2, -1
    j table_sum_loop
table_sum_done:
    mov r1, r3
    ret

.func dot_product        ; sum of r1[i] * r2[i] over r3 words
    li r4, 0
dot_product_loop:
    beqz r3, dot_product_done
    ld r5, 0(r1)
    ld r6, 0(r2)
    mul r5, r5, r6
    add r4, r4, r5
    addi r1, r1, 4
    addi r2, r2, 4
    addi r3, r3, -1
    j dot_product_loop
dot_product_done:
    mov r1, r4
    ret

.func rle_decode         ; expand (count, byte) pairs at r2 into r1 until a zero count
    mov r5, r1
rle_decode_pair:
    ldb r3, 0(r2)
    beqz r3, rle_decode_done
    ldb r4, 1(r2)
    addi r2, r2, 2
rle_decode_run:
    stb r4, 0(r5)
    addi r5, r5, 1
    addi r3, r3, -1
    bnez r3, rle_decode_run
    j rle_decode_pair
rle_decode_done:
    sub r1, r5, r1
    ret

.func level_histogram    ; histogram of tile kinds (low 3 bits) over r2 bytes at r1; returns the commonest
    push lr
    push r10
    push r11
    mov r10, r1
    mov r11, r2
    li r1, HIST
    li r2, 0
    li r3, 8
    call memset_w
level_histogram_loop:
    beqz r11, level_histogram_done
    ldb r3, 0(r10)
    andi r3, r3, 7
    shli r3, r3, 2
    addi r3, r3, HIST
    ld r4, 0(r3)
    addi r4, r4, 1
    st r4, 0(r3)
    addi r10, r10, 1
    addi r11, r11, -1
    j level_histogram_loop
level_histogram_done:
    li r1, HIST
    li r2, 8
    call argmax_w
    pop r11
    pop r10
    pop lr
    ret

.func argmax_w           ; index of the largest signed word among r2 words at r1
    li r3, 0
    ld r4, 0(r1)
    li r5, 1
argmax_w_loop:
    bgeu r5, r2, argmax_w_done
    shli r6, r5, 2
    add r6, r6, r1
    ld r6, 0(r6)
    ble r6, r4, argmax_w_next
    mov r4, r6
    mov r3, r5
argmax_w_next:
    addi r5, r5, 1
    j argmax_w_loop
argmax_w_done:
    mov r1, r3
    ret

.func rgb565             ; pack 0x00RRGGBB into RGB565
    shri r2, r1, 19
    andi r2, r2, 0x1F
    shli r2, r2, 11
    shri r3, r1, 10
    andi r3, r3, 0x3F
    shli r3, r3, 5
    or r2, r2, r3
    shri r3, r1, 3
    andi r3, r3, 0x1F
    or r1, r2, r3
    ret

.func palette_hash       ; hash of the 16-colour ROM palette tinted by r1, packed to RGB565
    push lr
    push r10
    push r11
    push r12
    push r13
    mov r12, r1
    li r10, palette
    li r11, 0
    li r13, 16
palette_hash_loop:
    ld r1, 0(r10)
    xor r1, r1, r12
    call rgb565
    li r2, 31
    mul r11, r11, r2
    add r11, r11, r1
    addi r10, r10, 4
    addi r13, r13, -1
    bnez r13, palette_hash_loop
    mov r1, r11
    pop r13
    pop r12
    pop r11
    pop r10
    pop lr
    ret

.func sine               ; sine of angle r1 (256 per turn) from the quarter-wave ROM table
    andi r1, r1, 255
    shri r2, r1, 6
    andi r3, r1, 63
    andi r4, r2, 1
    beqz r4, sine_forward
    li r5, 64
    sub r3, r5, r3
sine_forward:
    shli r3, r3, 2
    li r5, sine_tab
    add r3, r3, r5
    ld r1, 0(r3)
    andi r4, r2, 2
    beqz r4, sine_done
    neg r1, r1
sine_done:
    ret

.func hanoi              ; move r1 disks from peg r2 to r3 via r4, folding moves into G_HANOI
    beqz r1, hanoi_ret
    push lr
    push r10
    push r11
    push r12
    push r13
    mov r10, r1
    mov r11, r2
    mov r12, r3
    mov r13, r4
    addi r1, r10, -1
    mov r2, r11
    mov r3, r13
    mov r4, r12
    call hanoi
    li r5, G_HANOI
    ld r6, 0(r5)
    li r7, 3
    mul r6, r6, r7
    shli r8, r11, 2
    add r6, r6, r8
    add r6, r6, r12
    st r6, 0(r5)
    addi r1, r10, -1
    mov r2, r13
    mov r3, r12
    mov r4, r11
    call hanoi
    pop r13
    pop r12
    pop r11
    pop r10
    pop lr
hanoi_ret:
    ret
