/* SPDX-License-Identifier: MIT */
#include "gsd/counter_watch.hpp"

#include <cerrno>
#include <sys/uio.h>

namespace gs::broker {

std::string readCounter(pid_t pid, uint64_t address, int length, int &error)
{
    std::string value(static_cast<size_t>(length), '\0');
    iovec local{value.data(), value.size()};
    iovec remote{reinterpret_cast<void *>(static_cast<uintptr_t>(address)), value.size()};
    const ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (got == static_cast<ssize_t>(value.size())) {
        error = 0;
        return value;
    }
    error = got < 0 ? errno : EFAULT; /* a partial read: the range crosses an unmapped page */
    return {};
}

} // namespace gs::broker
