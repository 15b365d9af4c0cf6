# threat: hangs while being imported (a training loop left at the top level): stopped, skipped
# exercise: -
while True:
    pass
