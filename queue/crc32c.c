/* crc32c.c: CRC-32C with an SSE4.2 path chosen at run time and a table fallback. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[256];
static uint32_t (*crc_impl)(uint32_t crc, const unsigned char *p, size_t len);
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static uint32_t crc_by_table(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* The target attribute lets this one function use SSE4.2 without building the rest for it. */
__attribute__((target("sse4.2"))) static uint32_t crc_by_sse42(uint32_t crc, const unsigned char *p,
							       size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[i] = c;
	}
	crc_impl = crc_by_table;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc_by_sse42;
#endif
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_impl(~crc, data, len);
}
