/* test_loader.c — the ELF64 loader and the boot state of guest_abi.h: a
 * good image boots with the documented registers, control registers, boot
 * page tables, GDT and command line; every kind of bad image (truncated at
 * every length, corrupt headers, wrong class/machine/type, too big,
 * overlapping the reserved low MiB or each other) gives a one-line error
 * and never crashes (run under ASan+UBSan by make test). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/test_profile.h"

#define IMG_LEN 0x1010
static const uint8_t code[] = { 0x48, 0x31, 0xc0, 0xe6, 0xf4, 0xf4 };  /* xor rax,rax; out 0xf4,al; hlt */

static struct vl_profile prof;

/* A good image: text (R+X) at 0x100000 with 0x2000 of bss, data (RW) at
 * 0x200000 whose 16 bytes are the last bytes of the file. */
static void mk_image(uint8_t *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	memset(img, 0, IMG_LEN);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0x100000;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 3;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x800,
			      .p_vaddr = 0xffffffff80100000ull, .p_paddr = 0x100000, .p_filesz = sizeof(code),
			      .p_memsz = 0x2000, .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x900, .p_filesz = 0 };
	ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x1000,
			      .p_vaddr = 0x200000, .p_paddr = 0x200000, .p_filesz = 0x10, .p_memsz = 0x10 };
	memcpy(img + 0x800, code, sizeof(code));
	for (int i = 0; i < 16; i++)
		img[0x1000 + i] = (uint8_t)(0xa0 + i);
}

static struct vl_machine *mk(void)
{
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 8, .monitor_mb = 1 };
	char err[200];
	struct vl_machine *m;

	vl_test_profile(&prof);
	m = vl_machine_new(&cfg, err, sizeof(err));
	assert_non_null(m);
	return m;
}

static void test_good_image(void **state)
{
	static uint8_t img[IMG_LEN];
	struct vl_machine *m = mk();
	struct vl_cpu *c = &m->cpu;
	char err[256] = "";
	uint64_t pa, gdt[3];

	mk_image(img);
	memset(m->mem + 0x100000, 0xcc, 0x3000);   /* bss must come out zero */
	assert_int_equal(vl_machine_load_elf_mem(m, img, sizeof(img), "workload=cpuid iters=10", err, sizeof(err)), 0);
	assert_memory_equal(m->mem + 0x100000, code, sizeof(code));
	for (size_t i = sizeof(code); i < 0x2000; i++)
		assert_int_equal(m->mem[0x100000 + i], 0);
	assert_int_equal(m->mem[0x102000], 0xcc);     /* beyond memsz: untouched */
	assert_int_equal(m->mem[0x20000f], 0xaf);
	/* Registers (guest_abi.h) */
	assert_int_equal(c->rip, 0x100000);
	assert_int_equal(c->gpr[VL_RDI], VL_BOOT_CMDLINE);
	assert_int_equal(c->gpr[VL_RSI], 8ull << 20);
	assert_int_equal(c->gpr[VL_RAX], VL_BOOT_MAGIC);
	assert_int_equal(c->gpr[VL_RSP], VL_BOOT_STACK_TOP);
	assert_int_equal(c->rflags, 0x2);
	assert_string_equal((char *)m->mem + VL_BOOT_CMDLINE, "workload=cpuid iters=10");
	/* Control state: long mode, paging, PAE, NXE, SCE */
	assert_true(c->cr0 & VL_CR0_PG);
	assert_true(c->cr0 & VL_CR0_PE);
	assert_true(c->cr4 & VL_CR4_PAE);
	assert_int_equal(c->efer, VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE | VL_EFER_SCE);
	assert_int_equal(c->cr3, VL_BOOT_PML4);
	assert_int_equal(c->cpl, 0);
	assert_int_equal(c->idtr.limit, 0);
	assert_int_equal(c->seg[VL_CS].sel, VL_BOOT_CS);
	assert_true(c->seg[VL_CS].attr & (1u << 13));       /* L */
	assert_int_equal(c->seg[VL_SS].sel, VL_BOOT_DS);
	/* GDT: code is 64-bit DPL 0, data is writable DPL 0 */
	assert_int_equal(c->gdtr.base, VL_BOOT_GDT);
	assert_int_equal(c->gdtr.limit, 23);
	memcpy(gdt, m->mem + VL_BOOT_GDT, sizeof(gdt));
	assert_int_equal(gdt[0], 0);
	assert_true(gdt[1] & (1ull << 53));                  /* L */
	assert_true(gdt[1] & (1ull << 43));                  /* executable */
	assert_int_equal((gdt[1] >> 45) & 3, 0);             /* DPL 0 */
	assert_true(gdt[2] & (1ull << 41));                  /* writable */
	assert_false(gdt[2] & (1ull << 43));
	/* Boot page tables: the first 1 GiB identity-mapped with 2M pages, supervisor. */
	for (uint64_t va = 0; va < (1ull << 30); va += 0x1ff000) {
		assert_int_equal(vl_mem_translate(m, va, VL_ACC_W, &pa), 0);
		assert_int_equal(pa, va);
	}
	assert_int_equal(vl_phys_read64(m, VL_BOOT_PML4 + 0x2000) & 0x87, 0x83);   /* P|RW|PS, supervisor */
	assert_int_equal(vl_mem_translate(m, 1ull << 30, VL_ACC_R, &pa), -1);
	assert_int_equal(m->priv->fault.vec, VL_PF);
	assert_int_equal(vl_mem_translate(m, 0x100000, VL_ACC_R | VL_ACC_USER, &pa), -1);
	vl_machine_free(m);
}

static void expect_fail(const uint8_t *img, size_t len, const char *cmdline, const char *substr)
{
	struct vl_machine *m = mk();
	char err[256] = "";

	assert_int_equal(vl_machine_load_elf_mem(m, img, len, cmdline, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	if (substr && !strstr(err, substr))
		fail_msg("error \"%s\" lacks \"%s\"", err, substr);
	vl_machine_free(m);
}

typedef void (*mutator)(uint8_t *img);
#define EH(img) ((Elf64_Ehdr *)(img))
#define PH(img, i) ((Elf64_Phdr *)((img) + sizeof(Elf64_Ehdr)) + (i))
static void mut_magic(uint8_t *i) { i[1] = 'X'; }
static void mut_class(uint8_t *i) { EH(i)->e_ident[EI_CLASS] = ELFCLASS32; }
static void mut_endian(uint8_t *i) { EH(i)->e_ident[EI_DATA] = ELFDATA2MSB; }
static void mut_machine(uint8_t *i) { EH(i)->e_machine = EM_386; }
static void mut_type(uint8_t *i) { EH(i)->e_type = ET_DYN; }
static void mut_version(uint8_t *i) { EH(i)->e_version = 7; }
static void mut_phentsize(uint8_t *i) { EH(i)->e_phentsize = 32; }
static void mut_phnum0(uint8_t *i) { EH(i)->e_phnum = 0; }
static void mut_phoff(uint8_t *i) { EH(i)->e_phoff = 0xfffffffffffffff0ull; }
static void mut_filesz(uint8_t *i) { PH(i, 0)->p_filesz = 0x3000; }
static void mut_offset(uint8_t *i) { PH(i, 2)->p_offset = 0xffffffffffffff00ull; }
static void mut_lowmib(uint8_t *i) { PH(i, 0)->p_paddr = 0x80000; EH(i)->e_entry = 0x80000; }
static void mut_toobig(uint8_t *i) { PH(i, 2)->p_memsz = 64ull << 20; }
static void mut_wrap(uint8_t *i) { PH(i, 2)->p_paddr = 0xfffffffffffff000ull; }
static void mut_overlap(uint8_t *i) { PH(i, 2)->p_paddr = 0x101000; }
static void mut_entry(uint8_t *i) { EH(i)->e_entry = 0x200000; }   /* in the non-executable segment */
static void mut_noload(uint8_t *i) { PH(i, 0)->p_type = PT_NULL; PH(i, 2)->p_type = PT_NULL; }

static void test_bad_images(void **state)
{
	static uint8_t img[IMG_LEN];
	const struct { mutator f; const char *why; } cases[] = {
		{ mut_magic, "magic" }, { mut_class, "64-bit" }, { mut_endian, "little-endian" },
		{ mut_machine, "machine" }, { mut_type, "ET_EXEC" }, { mut_version, "version" },
		{ mut_phentsize, "program header size" }, { mut_phnum0, "program headers" },
		{ mut_phoff, "truncated" }, { mut_filesz, "exceeds memory size" }, { mut_offset, "truncated" },
		{ mut_lowmib, "reserved low MiB" }, { mut_toobig, "does not fit" }, { mut_wrap, "does not fit" },
		{ mut_overlap, "overlap" }, { mut_entry, "entry" }, { mut_noload, "no PT_LOAD" },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		mk_image(img);
		cases[k].f(img);
		expect_fail(img, sizeof(img), "", cases[k].why);
	}
	mk_image(img);
	expect_fail(NULL, 0, "", "no image");
	{
		char *longcl = malloc(VL_BOOT_CMDLINE_MAX + 1);
		memset(longcl, 'x', VL_BOOT_CMDLINE_MAX);
		longcl[VL_BOOT_CMDLINE_MAX] = 0;
		expect_fail(img, sizeof(img), longcl, "command line too long");
		free(longcl);
	}
}

/* Every truncation of the good image fails cleanly (the data segment's
 * last byte is the file's last byte). */
static void test_truncated_every_length(void **state)
{
	static uint8_t img[IMG_LEN];
	struct vl_machine *m = mk();
	char err[256];

	mk_image(img);
	for (size_t len = 0; len < sizeof(img); len++) {
		uint8_t *copy = malloc(len ? len : 1);   /* exact-size buffer: ASan sees overreads */
		memcpy(copy, img, len);
		err[0] = 0;
		assert_int_equal(vl_machine_load_elf_mem(m, copy, len, "", err, sizeof(err)), -1);
		assert_true(err[0] != 0);
		assert_null(strchr(err, '\n'));
		free(copy);
	}
	vl_machine_free(m);
}

/* Random header corruption: loads or fails with one line, never crashes. */
static void test_fuzz_headers(void **state)
{
	static uint8_t img[IMG_LEN];
	struct vl_machine *m = mk();
	uint64_t s = 1;
	char err[256];
	int ok = 0, bad = 0;

	for (int it = 0; it < 20000; it++) {
		mk_image(img);
		for (int k = 0; k < 1 + it % 4; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			img[(s >> 33) % (sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr))] ^= (uint8_t)(1u << ((s >> 20) & 7));
		}
		err[0] = 0;
		if (vl_machine_load_elf_mem(m, img, sizeof(img), "", err, sizeof(err)) == 0) {
			ok++;
		} else {
			bad++;
			assert_true(err[0] != 0);
			assert_null(strchr(err, '\n'));
		}
	}
	assert_true(ok > 0 && bad > 0);
	vl_machine_free(m);
}

static void test_files(void **state)
{
	static uint8_t img[IMG_LEN];
	struct vl_machine *m = mk();
	char err[256] = "", path[] = "/tmp/vl_test_loader_XXXXXX";
	const char *guest = getenv("GUEST");
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	mk_image(img);
	assert_int_equal(fwrite(img, 1, sizeof(img), f), sizeof(img));
	fclose(f);
	assert_int_equal(vl_machine_load_elf(m, path, "x", err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(vl_machine_load_elf(m, path, "x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	if (!guest)
		guest = "build/guest/guest.elf";
	f = fopen(guest, "rb");
	if (f) {   /* the real guest image, when it has been built */
		fclose(f);
		if (vl_machine_load_elf(m, guest, "workload=cpuid", err, sizeof(err)) != 0)
			fail_msg("guest image: %s", err);
	}
	vl_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_image),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_fuzz_headers),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
