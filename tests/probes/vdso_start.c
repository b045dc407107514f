// vdso_start: reads CLOCK_REALTIME through the vDSO as the very first thing
// the program does, and prints "vdso_realtime=SECONDS.NANOS".
//
// Built -nostdlib -static (no libc, no dynamic loader, nothing runs before
// _start): _start walks the initial stack (argc, argv, envp, auxv) to
// AT_SYSINFO_EHDR, finds __vdso_clock_gettime in the vDSO's dynamic symbol
// table and calls it, all before the first syscall. Static and Go programs
// do the same, so detrun must have patched the vDSO by the time the new
// image runs its first instruction: under detrun with a fixed --time, this
// prints that time; natively it prints the current time. Only then does it
// use raw `write` and `exit_group` syscalls.
//
// Exit status: 0 printed a time; 1 no vDSO or no __vdso_clock_gettime;
// 2 the call failed (the line then reads "vdso_realtime=error=N").
#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#define CLOCK_REALTIME_ID 0
#define NR_write 1
#define NR_exit_group 231

struct kernel_timespec {
  int64_t tv_sec;
  int64_t tv_nsec;
};

// The process entry point: hand the initial stack pointer to probe_main on
// a 16-byte aligned stack, as the C ABI expects at a call.
__asm__(
    ".text\n"
    ".global _start\n"
    ".type _start, @function\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call probe_main\n"
    "  hlt\n");

static long raw_syscall3(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return ret;
}

static __attribute__((noreturn)) void exit_group(int code) {
  raw_syscall3(NR_exit_group, code, 0, 0);
  for (;;) {
  }
}

static int names_equal(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

typedef int (*clock_gettime_fn)(int, struct kernel_timespec*);

// Finds `name` in the vDSO mapped at `base`, as the dynamic loader would:
// PT_LOAD gives the load bias, PT_DYNAMIC the symbol and string tables,
// DT_HASH (or DT_GNU_HASH) the number of symbols.
static void* vdso_lookup(uintptr_t base, const char* name) {
  const Elf64_Ehdr* eh = (const Elf64_Ehdr*)base;
  if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
      eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64) {
    return NULL;
  }
  const Elf64_Phdr* ph = (const Elf64_Phdr*)(base + eh->e_phoff);
  uintptr_t bias = 0;
  const Elf64_Dyn* dyn = NULL;
  int have_load = 0;
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type == PT_LOAD && !have_load) {
      bias = base - ph[i].p_vaddr;
      have_load = 1;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = (const Elf64_Dyn*)(uintptr_t)ph[i].p_vaddr;  // biased below
    }
  }
  if (!have_load || dyn == NULL) return NULL;
  dyn = (const Elf64_Dyn*)((uintptr_t)dyn + bias);

  const Elf64_Sym* symtab = NULL;
  const char* strtab = NULL;
  const uint32_t* hash = NULL;
  const uint32_t* gnu_hash = NULL;
  for (; dyn->d_tag != DT_NULL; ++dyn) {
    uintptr_t p = dyn->d_un.d_ptr + bias;
    switch (dyn->d_tag) {
      case DT_SYMTAB: symtab = (const Elf64_Sym*)p; break;
      case DT_STRTAB: strtab = (const char*)p; break;
      case DT_HASH: hash = (const uint32_t*)p; break;
      case DT_GNU_HASH: gnu_hash = (const uint32_t*)p; break;
      default: break;
    }
  }
  if (symtab == NULL || strtab == NULL) return NULL;

  uint32_t count = 0;
  if (hash != NULL) {
    count = hash[1];  // nchain
  } else if (gnu_hash != NULL) {
    // One past the last chain entry of the highest bucket.
    uint32_t nbuckets = gnu_hash[0], symoffset = gnu_hash[1];
    const uint32_t* buckets = gnu_hash + 4 + 2 * gnu_hash[2];  // 64-bit bloom
    const uint32_t* chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t b = 0; b < nbuckets; ++b) {
      if (buckets[b] > last) last = buckets[b];
    }
    if (last < symoffset) {
      count = symoffset;
    } else {
      while ((chain[last - symoffset] & 1) == 0) ++last;
      count = last + 1;
    }
  } else {
    return NULL;
  }

  for (uint32_t i = 1; i < count; ++i) {
    const Elf64_Sym* s = &symtab[i];
    if (ELF64_ST_TYPE(s->st_info) == STT_FUNC && s->st_shndx != SHN_UNDEF &&
        names_equal(strtab + s->st_name, name)) {
      return (void*)(s->st_value + bias);
    }
  }
  return NULL;
}

static size_t append(char* out, size_t at, const char* s) {
  while (*s != '\0') out[at++] = *s++;
  return at;
}

// Decimal, left-padded with zeros to at least `width` digits.
static size_t append_uint(char* out, size_t at, uint64_t v, int width) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n < width) digits[n++] = '0';
  while (n > 0) out[at++] = digits[--n];
  return at;
}

__attribute__((noreturn, used)) void probe_main(uint64_t* sp) {
  // The initial stack: argc, argv[argc], NULL, envp..., NULL, auxv pairs.
  uint64_t argc = sp[0];
  uint64_t* p = sp + 1 + argc + 1;
  while (*p != 0) ++p;
  ++p;
  uintptr_t vdso_base = 0;
  for (; p[0] != AT_NULL; p += 2) {
    if (p[0] == AT_SYSINFO_EHDR) vdso_base = (uintptr_t)p[1];
  }

  // First thing that reads anything: the clock, through the vDSO.
  struct kernel_timespec ts = {0, 0};
  int rc = -1;
  clock_gettime_fn fn = NULL;
  if (vdso_base != 0) {
    fn = (clock_gettime_fn)vdso_lookup(vdso_base, "__vdso_clock_gettime");
  }
  if (fn != NULL) rc = fn(CLOCK_REALTIME_ID, &ts);

  char line[96];
  size_t n = append(line, 0, "vdso_realtime=");
  int status = 0;
  if (fn == NULL) {
    n = append(line, n, vdso_base == 0 ? "no-vdso" : "no-symbol");
    status = 1;
  } else if (rc != 0) {
    n = append(line, n, "error=");
    if (rc < 0) {
      line[n++] = '-';
      rc = -rc;
    }
    n = append_uint(line, n, (uint64_t)rc, 1);
    status = 2;
  } else {
    if (ts.tv_sec < 0) {
      line[n++] = '-';
      ts.tv_sec = -ts.tv_sec;
    }
    n = append_uint(line, n, (uint64_t)ts.tv_sec, 1);
    line[n++] = '.';
    n = append_uint(line, n, (uint64_t)ts.tv_nsec, 9);
  }
  line[n++] = '\n';
  raw_syscall3(NR_write, 1, (long)line, (long)n);
  exit_group(status);
}
