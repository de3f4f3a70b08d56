"""Would print a random number; under a glibc floor below 2.36 the bundle never gets built."""
import newer_glibc_ext

print(newer_glibc_ext.random())
