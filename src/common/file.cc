#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace tlsterm {

namespace {

std::string describe_errno(int err, const std::filesystem::path& path) {
    switch (err) {
        case ENOENT:
            return "no such file: " + path.string();
        case EACCES:
        case EPERM:
            return "permission denied: " + path.string();
        case EISDIR:
            return "is a directory, not a file: " + path.string();
        case ENOTDIR:
            return "a parent is not a directory: " + path.string();
        default:
            return "cannot read " + path.string() + ": " + std::strerror(err);
    }
}

}  // namespace

std::expected<std::string, std::string> read_file(const std::filesystem::path& path,
                                                  std::size_t max_bytes) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        return std::unexpected(describe_errno(errno, path));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return std::unexpected(describe_errno(errno, path));
    }
    if (S_ISDIR(st.st_mode)) {
        return std::unexpected(describe_errno(EISDIR, path));
    }
    if (!S_ISREG(st.st_mode)) {
        return std::unexpected("not a regular file: " + path.string());
    }
    if (static_cast<std::size_t>(st.st_size) > max_bytes) {
        return std::unexpected("file too large (" + std::to_string(st.st_size) + " bytes, limit " +
                               std::to_string(max_bytes) + "): " + path.string());
    }
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return std::unexpected(describe_errno(errno, path));
        }
        if (n == 0) {
            data.resize(done);  // file shrank while reading
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    return data;
}

std::expected<std::string, std::string> read_secret_file(const std::filesystem::path& path) {
    auto data = read_file(path, 64 * 1024);
    if (!data) {
        return data;
    }
    data->resize(std::min(data->size(), data->find_first_of("\r\n")));
    return data;
}

}  // namespace tlsterm
