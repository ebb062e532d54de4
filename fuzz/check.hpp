/* SPDX-License-Identifier: MIT */
/* What the fuzz targets share: a check that stops the fuzzer with a message
 * (libFuzzer records the input as a crash), and a front-to-back byte reader
 * whose every read succeeds (zeros once the input is used up), so that seed
 * inputs are easy to write by hand or by fuzz/make_corpus.cpp. */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gs::fuzz {

[[noreturn]] inline void fail(const std::string &what)
{
    std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
    std::abort();
}

inline void check(bool condition, const std::string &what)
{
    if (!condition)
        fail(what);
}

class ByteReader {
  public:
    ByteReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}

    bool empty() const { return pos_ >= size_; }
    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    /* 0 .. n-1 */
    unsigned below(unsigned n) { return n == 0 ? 0 : byte() % n; }
    uint16_t u16()
    {
        const uint16_t high = byte();
        return static_cast<uint16_t>(high << 8 | byte());
    }
    /* Up to `max` bytes, length first. */
    std::string bytes(unsigned max)
    {
        std::string out;
        for (unsigned n = below(max + 1); n > 0 && !empty(); --n)
            out.push_back(static_cast<char>(byte()));
        return out;
    }

  private:
    const uint8_t *data_;
    size_t size_;
    size_t pos_ = 0;
};

} // namespace gs::fuzz
