; T32 sample ROM: the data section ("game assets"); loaded at 0x1000, read-only by convention.

.data
str_title:  .asciz "T32 RECOMP DEMO"
str_player: .asciz "PLAYER ONE"
str_over:   .asciz "GAME OVER - INSERT COIN"
crc_msg:    .ascii "HELLO, T32!!"
nibble_pop: .byte 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4

level_map:                  ; 8 x 6 tiles, kind = low 3 bits
    .byte 0x11, 0x11, 0x12, 0x13, 0x13, 0x12, 0x11, 0x11
    .byte 0x21, 0x40, 0x40, 0x45, 0x40, 0x40, 0x46, 0x21
    .byte 0x21, 0x40, 0x33, 0x40, 0x40, 0x37, 0x40, 0x21
    .byte 0x21, 0x44, 0x40, 0x40, 0x52, 0x40, 0x40, 0x21
    .byte 0x21, 0x40, 0x40, 0x36, 0x40, 0x40, 0x45, 0x21
    .byte 0x19, 0x1a, 0x1a, 0x1b, 0x1b, 0x1a, 0x1a, 0x19

rle_sprite:                 ; (count, byte) pairs, zero count ends
    .byte 5, 0x7e, 3, 0x81, 9, 0xa5, 2, 0x99, 7, 0x42, 4, 0x3c, 11, 0xff, 6, 0x18
    .byte 8, 0x24, 3, 0x66, 10, 0xdb, 1, 0x5a, 12, 0xc3, 5, 0xe7, 0

script_a:                   ; ops: 0 end 1 add 2 xor 3 mul 4 rot 5 sine 6 loop 7 out
    .byte 1, 37, 2, 0x5a, 5, 11, 3, 7, 6, 4, 7, 0, 4, 13, 5, 200, 2, 0xc3, 7, 0, 0, 0
script_b:
    .byte 3, 21, 4, 5, 1, 99, 6, 3, 5, 64, 2, 0x3c, 7, 0, 0, 0

.align 4
op_table:   .word op_add, op_sub, op_xor, op_mul, op_andn, op_shl, op_min, op_max
vm_table:   .word vm_end, vm_add, vm_xor, vm_mul, vm_rot, vm_tab, vm_loop, vm_out

sorted_keys:
    .word -30000, -12345, -777, -42, -1, 3, 17, 99
    .word 256, 1001, 4096, 12345, 65537, 99991, 1234567, 0x7ffffff0

weights:    .word 3, -2, 5, 7, -11, 13, 17, -19

palette:
    .word 0x1d2b53, 0x7e2553, 0x008751, 0xab5236, 0x5f574f, 0xc2c3c7, 0xfff1e8, 0xff004d
    .word 0xffa300, 0xffec27, 0x00e436, 0x29adff, 0x83769c, 0xff77a8, 0xffccaa, 0x291814

enemy_init:                 ; x, y, vx, vy
    .word 100, 50, 7, -3
    .word 400, 120, -5, 2
    .word 700, 300, 9, -8
    .word 950, 20, -12, 5

sine_tab:                   ; round(30000 * sin(i * pi / 128)), i = 0..64
    .word 0, 736, 1472, 2207, 2941, 3672, 4402, 5129
    .word 5853, 6573, 7289, 8001, 8709, 9410, 10107, 10797
    .word 11481, 12157, 12827, 13488, 14142, 14787, 15423, 16050
    .word 16667, 17274, 17871, 18457, 19032, 19595, 20147, 20686
    .word 21213, 21727, 22229, 22716, 23190, 23650, 24096, 24528
    .word 24944, 25346, 25732, 26103, 26458, 26797, 27120, 27426
    .word 27716, 27990, 28246, 28486, 28708, 28913, 29101, 29271
    .word 29424, 29558, 29675, 29774, 29856, 29919, 29964, 29991
    .word 30000
