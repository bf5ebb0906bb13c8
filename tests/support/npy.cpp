#include "tests/support/npy.h"

#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <vector>

namespace vitfeat::test {

torch::Tensor loadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw std::runtime_error("not a .npy file: " + path);
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (!in) throw std::runtime_error("truncated .npy header: " + path);

  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")))
    throw std::runtime_error("no descr in " + path);
  const std::string descr = m[1];
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    throw std::runtime_error("fortran order not supported: " + path);
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    throw std::runtime_error("no shape in " + path);
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  std::regex num("[0-9]+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it)
    shape.push_back(std::stoll(it->str()));

  torch::ScalarType type;
  if (descr == "<f4")
    type = torch::kFloat32;
  else if (descr == "<f8")
    type = torch::kFloat64;
  else if (descr == "<i8")
    type = torch::kInt64;
  else
    throw std::runtime_error("unsupported dtype " + descr + " in " + path);

  torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(type));
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  if (!in) throw std::runtime_error("truncated .npy data: " + path);
  return t;
}

}  // namespace vitfeat::test
