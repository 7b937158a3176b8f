/* T32 host runtime: loads and hash-checks the user's ROM, copies its data
 * section into memory, runs the lifted entry function for each input vector
 * and prints results in interp.py's format.  Contains no ROM bytes itself. */
#include "runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct rom_info {
    uint8_t *bytes;
    size_t size;
    uint32_t entry, data_off, data_size, data_addr;
} rom_info;

static t32_cpu cpu;
static const char *const status_names[] = {
    "running", "ret", "halt", "trap:steps", "trap:align", "trap:badpc", "trap:illegal",
    "trap:badret", "trap:depth", "trap:jtrange", "trap:badjump", "trap:outfull"};

_Noreturn void t32_stop(t32_cpu *c, int status, uint32_t pc) {
    c->status = status;
    c->pc = pc;
    longjmp(c->exit, 1);
}

void t32_trace_event(t32_cpu *c, char kind, uint32_t fn) {
    fprintf(c->trace, "%c %08x steps=%llu s=%08x o=%u r=", kind, (unsigned)fn,
            (unsigned long long)c->steps, (unsigned)c->storesum, (unsigned)c->nout);
    for (int i = 0; i < 16; i++) fprintf(c->trace, i ? " %08x" : "%08x", (unsigned)c->r[i]);
    fputc('\n', c->trace);
}

static _Noreturn void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "t32prog: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) die(2, "cannot open ROM %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    if (!buf || ferror(f)) die(2, "cannot read ROM %s", path);
    fclose(f);
    *size = n;
    return buf;
}

/* Load the ROM, verify its SHA-256 against the hash baked in at link time,
 * and validate the header the same way isa.parse_rom does. */
static rom_info load_rom(const char *path) {
    rom_info r = {0};
    char hex[65];
    r.bytes = read_file(path, &r.size);
    t32_sha256_hex(r.bytes, r.size, hex);
    if (strcmp(hex, t32_expected_rom_sha256) != 0)
        die(2, "ROM hash mismatch: this program was recompiled from ROM sha256 %s, got %s",
            t32_expected_rom_sha256, hex);
    const uint8_t *h = r.bytes;
    if (r.size < 32 || memcmp(h, "T32R", 4) != 0 || (h[4] | h[5] << 8) != 1)
        die(2, "%s: not a T32 v1 ROM", path);
    uint64_t coff = le32(h + 12), csize = le32(h + 16);
    r.entry = le32(h + 8);
    r.data_off = le32(h + 20);
    r.data_size = le32(h + 24);
    r.data_addr = le32(h + 28);
    if (coff + csize > r.size || (uint64_t)r.data_off + r.data_size > r.size ||
        (uint64_t)r.data_addr + r.data_size > T32_MEM_SIZE || r.entry != t32_entry_addr)
        die(2, "%s: malformed ROM header", path);
    return r;
}

static void sha_and_print(void) {
    char hex[65];
    t32_sha256_hex(cpu.mem, T32_MEM_SIZE, hex);
    printf("status=%s pc=%08x steps=%llu\nregs=", status_names[cpu.status], (unsigned)cpu.pc,
           (unsigned long long)cpu.steps);
    for (int i = 0; i < 16; i++) printf(i ? " %08x" : "%08x", (unsigned)cpu.r[i]);
    printf("\nmem_sha256=%s\nout=%u", hex, (unsigned)cpu.nout);
    for (uint32_t i = 0; i < cpu.nout; i++) printf(" %08x", (unsigned)cpu.out[i]);
    putchar('\n');
}

static void run_one(const rom_info *rom, const uint32_t in[4], uint64_t limit, FILE *trace) {
    memset(&cpu, 0, sizeof cpu);
    memcpy(cpu.mem + rom->data_addr, rom->bytes + rom->data_off, rom->data_size);
    for (int i = 0; i < 4; i++) cpu.r[1 + i] = in[i];
    cpu.r[14] = T32_INITIAL_SP;
    cpu.r[15] = T32_RET_SENTINEL;
    cpu.step_limit = limit;
    cpu.trace = trace;
    cpu.depth = 1;
    if (setjmp(cpu.exit) == 0) {
        if (trace) t32_trace_event(&cpu, 'E', t32_entry_addr);
        t32_call_entry(&cpu);
        cpu.status = T32_RET;
    }
    sha_and_print();
}

/* Decimal or 0x-hex, optionally negative, reduced mod 2^32 (as interp.py). */
static int parse_word(const char *s, uint32_t *out) {
    int neg = (*s == '-');
    const char *p = s + neg;
    int hex = (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'));
    char *end;
    errno = 0;
    unsigned long long v = strtoull(hex ? p + 2 : p, &end, hex ? 16 : 10);
    if (errno || end == (hex ? p + 2 : p) || *end || *p == '-' || *p == '+') return 0;
    *out = (uint32_t)(neg ? 0u - (uint32_t)v : (uint32_t)v);
    return 1;
}

static int parse_vector(char **words, int n, uint32_t in[4]) {
    if (n > 4) return 0;
    for (int i = 0; i < 4; i++) in[i] = 0;
    for (int i = 0; i < n; i++)
        if (!parse_word(words[i], &in[i])) return 0;
    return 1;
}

static void run_stdin(const rom_info *rom, uint64_t limit, FILE *trace) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        char *words[8];
        int n = 0;
        for (char *t = strtok(line, " \t\r\n"); t && n < 8; t = strtok(NULL, " \t\r\n")) words[n++] = t;
        uint32_t in[4];
        if (n == 0) continue;
        if (!parse_vector(words, n, in)) die(2, "bad input vector line: %s", line);
        run_one(rom, in, limit, trace);
    }
}

int main(int argc, char **argv) {
    uint64_t limit = 1000000;
    FILE *trace = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) limit = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--trace") && i + 1 < argc) {
            if (!(trace = fopen(argv[++i], "w"))) die(2, "cannot write trace %s: %s", argv[i], strerror(errno));
        } else die(2, "usage: t32prog [--steps N] [--trace FILE] [ROM] [r1 r2 r3 r4]");
    }
    const char *path = getenv("T32_ROM");
    if (!path || !*path) {
        if (i >= argc) die(2, "no ROM given (pass a path or set T32_ROM)");
        path = argv[i++];
    }
    rom_info rom = load_rom(path);
    if (i < argc) {
        uint32_t in[4];
        if (!parse_vector(argv + i, argc - i, in)) die(2, "bad input vector (up to 4 words)");
        run_one(&rom, in, limit, trace);
    } else {
        run_stdin(&rom, limit, trace);
    }
    if (trace) fclose(trace);
    free(rom.bytes);
    return 0;
}
