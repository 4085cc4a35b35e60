"""cocotb RTL tests, one folder per design (test_<design>.py + tb.py)."""
