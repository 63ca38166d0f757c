# Structural scan of a message body (the simdjson idea, for tag=value):
# one SSE2 pass marks every SOH in a bitmap and sums the bytes for the
# CheckSum on the way; each field's end is then a bit scan instead of a byte
# loop or a memchr call per field.

from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    static inline uint64_t fc_mask64(const char* p, __m128i c) {
        uint64_t a = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)p), c));
        uint64_t b = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)(p + 16)), c));
        uint64_t d = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)(p + 32)), c));
        uint64_t e = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)(p + 48)), c));
        return a | (b << 16) | (d << 32) | (e << 48);
    }
    #endif
    /* One 64-byte block: its SOH bitmap, and its byte sum added to *sum. */
    static inline void fc_block(const char* p, uint64_t* soh, uint64_t* sum) {
    #if defined(__SSE2__)
        const __m128i csoh = _mm_set1_epi8(1), zero = _mm_setzero_si128();
        __m128i v0 = _mm_loadu_si128((const __m128i*)p), v1 = _mm_loadu_si128((const __m128i*)(p + 16));
        __m128i v2 = _mm_loadu_si128((const __m128i*)(p + 32)), v3 = _mm_loadu_si128((const __m128i*)(p + 48));
        __m128i acc = _mm_add_epi64(_mm_add_epi64(_mm_sad_epu8(v0, zero), _mm_sad_epu8(v1, zero)),
                                    _mm_add_epi64(_mm_sad_epu8(v2, zero), _mm_sad_epu8(v3, zero)));
        *sum += (uint64_t)_mm_cvtsi128_si64(acc) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
        *soh = (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, csoh))
             | (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, csoh)) << 16
             | (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v2, csoh)) << 32
             | (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v3, csoh)) << 48;
    #else
        uint64_t s = 0;
        for (int k = 0; k < 64; k++) {
            s |= (uint64_t)(p[k] == 1) << k;
            *sum += (unsigned char)p[k];
        }
        *soh = s;
    #endif
    }
    /* Bit i of soh[] is set when p[i] is SOH, for i < n; bit n is set as a
       sentinel. soh[] holds n / 64 + 2 words. Returns the sum of the bytes
       (for the CheckSum). Reads only p[0 .. n). */
    static inline uint64_t fc_structural(const char* p, Py_ssize_t n, uint64_t* soh) {
        Py_ssize_t i = 0, w = 0;
        uint64_t sum = 0;
        char tail[64];
        for (; i + 64 <= n; i += 64, w++)
            fc_block(p + i, soh + w, &sum);
        memset(tail, 0, 64);
        memcpy(tail, p + i, (size_t)(n - i));
        fc_block(tail, soh + w, &sum);
        soh[w] |= (uint64_t)1 << (n - i);
        soh[w + 1] = 0;
        return sum;
    }
    /* The first set bit at or after pos (a sentinel bit must follow). */
    static inline Py_ssize_t fc_next_bit(const uint64_t* m, Py_ssize_t pos) {
        Py_ssize_t w = pos >> 6;
        uint64_t x = m[w] & (~(uint64_t)0 << (pos & 63));
        while (!x)
            x = m[++w];
        return (w << 6) + __builtin_ctzll(x);
    }
    """
    uint64_t fc_structural(const char* p, Py_ssize_t n, uint64_t* soh) nogil
    Py_ssize_t fc_next_bit(const uint64_t* m, Py_ssize_t pos) nogil
