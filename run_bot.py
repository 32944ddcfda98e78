#!/usr/bin/env python3
"""Run the Lucid Dream Bot. Try: python run_bot.py --once --config config/demo.toml"""
import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
