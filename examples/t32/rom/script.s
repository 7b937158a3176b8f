; T32 sample ROM: a jump-table switch over operations and a bytecode script VM
; (both dispatch with `jt` through tables in the data section).

.func phase_script       ; jump-table switch over operations, then the script VM
    push lr
    push r10
    push r11
    push r12
    li r5, G_IN
    ld r10, 0(r5)
    ld r11, 12(r5)
    li r12, 0
phase_script_ops:
    add r1, r12, r11
    mov r2, r10
    xor r3, r11, r12
    call op_dispatch
    mov r10, r1
    addi r12, r12, 1
    li r5, 8
    bne r12, r5, phase_script_ops
    mov r1, r10
    call report
    li r1, script_a
    mov r2, r10
    call vm_run
    call report
    li r1, script_b
    mov r2, r11
    call vm_run
    call report
    pop r12
    pop r11
    pop r10
    pop lr
    ret

.func op_dispatch        ; switch (r1 & 7) through op_table on operands r2, r3
    andi r1, r1, 7
    jt r1, 8, op_table
op_add:
    add r1, r2, r3
    ret
op_sub:
    sub r1, r2, r3
    ret
op_xor:
    xor r1, r2, r3
    ret
op_mul:
    mul r1, r2, r3
    ret
op_andn:
    li r4, -1
    xor r4, r3, r4
    and r1, r2, r4
    ret
op_shl:
    shl r1, r2, r3
    ret
op_min:
    blt r2, r3, op_first
    mov r1, r3
    ret
op_max:
    bgt r2, r3, op_first
    mov r1, r3
    ret
op_first:
    mov r1, r2
    ret

.func vm_run             ; run the 2-byte-per-op script at r1 with accumulator r2
    push lr
    push r10
    push r11
    push r12
    mov r10, r1
    mov r11, r2
    li r12, 3
vm_next:
    ldb r1, 0(r10)
    ldb r2, 1(r10)
    addi r10, r10, 2
    andi r1, r1, 7
    jt r1, 8, vm_table
vm_end:
    mov r1, r11
    pop r12
    pop r11
    pop r10
    pop lr
    ret
vm_add:
    add r11, r11, r2
    j vm_next
vm_xor:
    shli r3, r2, 8
    or r3, r3, r2
    xor r11, r11, r3
    j vm_next
vm_mul:
    ori r2, r2, 1
    mul r11, r11, r2
    j vm_next
vm_rot:
    mov r1, r11
    li r3, 0
    call rotate
    mov r11, r1
    j vm_next
vm_tab:
    add r1, r11, r2
    call sine
    add r11, r11, r1
    j vm_next
vm_loop:
    beqz r12, vm_next
    addi r12, r12, -1
    shli r2, r2, 1
    sub r10, r10, r2
    j vm_next
vm_out:
    mov r1, r11
    call report
    j vm_next

.func debug_dump         ; never called by the game: only the symbol overrides make it a function
    push lr
    li r5, G_SCORE
    ld r1, 0(r5)
    out r1
    ld r1, 4(r5)
    out r1
    call mix32
    out r1
    pop lr
    ret
