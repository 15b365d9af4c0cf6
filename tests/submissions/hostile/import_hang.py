# mode: full
# threat: hangs while being imported
# exercise: *
# status: error
# message: importing the submission took longer than 5 s
while True:
    pass
