# Local emulation of the Gradescope autograder image (Gradescope builds the real one from
# the zip). Build the zip first, then:
#   backprop gradescope build -o autograder.zip
#   docker build -t backprop-autograder .
#   docker run --rm -v "$PWD/submission:/autograder/submission" \
#       -v "$PWD/results:/autograder/results" backprop-autograder /autograder/run_autograder
FROM gradescope/autograder-base:ubuntu-22.04

COPY autograder.zip /tmp/autograder.zip
RUN apt-get update && apt-get install -y unzip dos2unix \
    && mkdir -p /autograder/source \
    && unzip /tmp/autograder.zip -d /autograder/source \
    && cp /autograder/source/run_autograder /autograder/run_autograder \
    && dos2unix /autograder/run_autograder /autograder/source/setup.sh \
    && chmod +x /autograder/run_autograder /autograder/source/setup.sh \
    && bash /autograder/source/setup.sh \
    && rm /tmp/autograder.zip
