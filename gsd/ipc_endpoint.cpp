/* SPDX-License-Identifier: MIT */
#include "gsd/ipc_endpoint.hpp"

#include "common/endpoint.hpp"
#include "gsd/broker.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>

namespace gs::broker {
namespace {

[[noreturn]] void systemError(const std::string &what, int error)
{
    throw BrokerError(BrokerError::Kind::System, what + ": " + std::strerror(error));
}

/* mkdir -p; directories it creates get mode 0755 whatever the umask. */
void makeDirectories(const std::string &directory)
{
    for (size_t slash = 1; slash != std::string::npos;) {
        slash = directory.find('/', slash + 1);
        const std::string prefix = directory.substr(0, slash);
        if (mkdir(prefix.c_str(), 0755) == 0) {
            chmod(prefix.c_str(), 0755);
        } else if (errno != EEXIST) {
            systemError("cannot create directory " + prefix, errno);
        }
    }
}

bool sameFile(int fd, const std::string &path)
{
    struct stat opened {
    }, named{};
    return fstat(fd, &opened) == 0 && stat(path.c_str(), &named) == 0 &&
           opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

} // namespace

IpcEndpoint::IpcEndpoint(std::string endpoint) : endpoint_(std::move(endpoint))
{
    const auto path = ipcPath(endpoint_);
    if (!path || path->front() != '/')
        throw BrokerError(BrokerError::Kind::Config,
                          "endpoint '" + endpoint_ +
                              "' is not usable: gsd serves only ipc:// endpoints with an absolute "
                              "path (client credentials come from the Unix socket)");
    path_ = *path;
    lockPath_ = path_ + ".lock";
    if (path_.size() >= sizeof(sockaddr_un{}.sun_path))
        throw BrokerError(BrokerError::Kind::Config,
                          "socket path '" + path_ + "' is longer than a Unix socket allows (" +
                              std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    if (path_.back() == '/')
        throw BrokerError(BrokerError::Kind::Config,
                          "endpoint '" + endpoint_ + "' names a directory, not a socket");

    const size_t slash = path_.rfind('/');
    if (slash > 0)
        makeDirectories(path_.substr(0, slash));

    /* A gsd that shuts down unlinks the lock file while holding the lock; a
     * starter that opened the old file just before would lock an orphan, so
     * it checks that the lock it holds is still the file at the path. */
    for (;;) {
        lock_.reset(open(lockPath_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (!lock_)
            systemError("cannot open lock file " + lockPath_, errno);
        if (flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                throw BrokerError(BrokerError::Kind::InUse,
                                  "another gsd already serves " + endpoint_);
            systemError("cannot lock " + lockPath_, errno);
        }
        if (sameFile(lock_.get(), lockPath_))
            break;
    }
}

IpcEndpoint::~IpcEndpoint()
{
    release();
}

void IpcEndpoint::bound()
{
    bound_ = true;
    if (chmod(path_.c_str(), 0666) != 0)
        systemError("cannot set the mode of " + path_, errno);
}

void IpcEndpoint::release()
{
    if (!lock_)
        return;
    if (bound_)
        unlink(path_.c_str());
    unlink(lockPath_.c_str());
    lock_.reset();
    bound_ = false;
}

} // namespace gs::broker
