"""Would print the stray library's value; the bundle never gets built."""
import stray_ext

print(stray_ext.value())
