/* crc32c.h: CRC-32C (Castagnoli), hardware-accelerated when the CPU has SSE4.2. */
#ifndef MMQ_CRC32C_H
#define MMQ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c returns the CRC-32C of len bytes at data, continuing from crc (0 to start). This function can't fail. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
