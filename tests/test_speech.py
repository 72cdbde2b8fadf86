"""Speech features against python_speech_features, CTC decoding against brute force, edit
distance against hand-worked answers and NLTK, and the recognizers' shapes and padding."""

import itertools
import math
import random
import wave

import numpy as np
import pytest
import python_speech_features as psf
import torch

from course_lib import asr, audio, ctc, speech


def chirp(seconds: float = 0.6, rate: int = 8000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return 0.3 * torch.sin(2 * math.pi * (200 + 1500 * t) * t) + 0.01 * torch.randn(len(t),
                                                                                  generator=torch.Generator().manual_seed(0))


# --- Features ---------------------------------------------------------------------------------

@pytest.mark.parametrize("num_filters, n_fft", [(40, 512), (26, 256)])
def test_mel_filterbank_equals_python_speech_features(num_filters, n_fft):
    ours = audio.mel_filterbank(num_filters, n_fft, 8000, dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, psf.get_filterbanks(num_filters, n_fft, 8000), atol=1e-12)


@pytest.mark.parametrize("seconds", [0.6, 0.0251, 0.01])  # many frames, one frame, shorter than a frame
def test_log_mel_and_mfcc_equal_python_speech_features(seconds):
    signal = chirp(seconds)
    energies, _ = psf.fbank(signal.numpy(), 8000, nfilt=40, nfft=512, winfunc=np.hamming)
    ours = audio.log_mel(signal, 8000)
    np.testing.assert_allclose(ours.numpy(), np.log(energies), rtol=1e-9, atol=1e-9)
    reference = psf.mfcc(signal.numpy(), 8000, numcep=13, nfilt=40, nfft=512, winfunc=np.hamming,
                         appendEnergy=False, ceplifter=22)
    np.testing.assert_allclose(audio.mfcc(ours, 13, lifter=22).numpy(), reference, atol=1e-8)


def test_framing_matches_torch_stft_without_centring():
    signal = chirp(0.3).float()
    frames = audio.frame_signal(signal, 256, 80)[:-1]  # torch.stft drops the padded last frame
    ours = audio.power_spectrum(frames * torch.hann_window(256), 256)
    spectrum = torch.stft(signal, 256, 80, window=torch.hann_window(256), center=False,
                          return_complex=True)  # (F, T)
    torch.testing.assert_close(ours, spectrum.abs().T ** 2 / 256, rtol=1e-4, atol=1e-6)


def test_dct_matrix_is_orthonormal_and_frame_count_known():
    d = audio.dct_matrix(8, torch.float64)
    torch.testing.assert_close(d @ d.T, torch.eye(8, dtype=torch.float64))
    assert audio.frame_signal(torch.ones(1000), 200, 80).shape == (1 + math.ceil(800 / 80), 200)
    assert audio.frame_signal(torch.ones(10), 200, 80).shape == (1, 200)


def test_feature_errors_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="too many.*fewer filters"):
        audio.mel_filterbank(80, 128, 8000)
    with pytest.raises(ValueError, match="raise n_fft"):
        audio.log_mel(torch.ones(4000), 8000, n_fft=128)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        audio.frame_signal(torch.ones(0), 200, 80)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(b"\0\0" * 20)
    with pytest.raises(ValueError, match="mono 16-bit.*convert"):
        audio.read_wav(path)


def test_normalise_gives_zero_mean_unit_deviation():
    features = audio.normalise(torch.randn(50, 4) * 3 + 7)
    torch.testing.assert_close(features.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.std(0, unbiased=False), torch.ones(4), atol=1e-5, rtol=0)


# --- CTC decoding and error rates --------------------------------------------------------------

def test_collapse_and_greedy_by_hand():
    assert ctc.collapse([1, 1, 0, 1, 2, 2, 0, 0]) == [1, 1, 2]
    assert ctc.collapse([0, 0]) == []
    # Frames' best classes: 1, 1, blank, 1, 2 -> "1 1 2".
    probs = torch.tensor([[.1, .8, .1], [.2, .7, .1], [.6, .3, .1], [.1, .5, .4], [.1, .1, .8]])
    assert ctc.greedy_decode(probs.log()) == [1, 1, 2]


def brute_force_sequence_probs(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    probs: dict[tuple[int, ...], float] = {}
    frames, classes = log_probs.shape
    for path in itertools.product(range(classes), repeat=frames):
        labels = tuple(ctc.collapse(path))
        score = math.exp(sum(log_probs[t, c].item() for t, c in enumerate(path)))
        probs[labels] = probs.get(labels, 0.0) + score
    return probs


@pytest.mark.parametrize("seed", range(5))
def test_prefix_beam_search_is_exact_with_a_wide_beam(seed):
    log_probs = torch.randn(5, 3, generator=torch.Generator().manual_seed(seed)).log_softmax(-1).double()
    probs = brute_force_sequence_probs(log_probs)
    beams = ctc.prefix_beam_search(log_probs, beam_width=1000)
    assert {prefix for prefix, _ in beams} == set(probs)  # every reachable sequence, no other
    for prefix, score in beams:
        assert math.exp(score) == pytest.approx(probs[prefix], rel=1e-9)
    assert beams[0][0] == max(probs, key=probs.get)
    target = torch.tensor([[1, 2]])
    loss = torch.nn.functional.ctc_loss(log_probs[:, None], target, torch.tensor([5]), torch.tensor([2]),
                                        reduction="sum")
    assert math.exp(-loss.item()) == pytest.approx(probs[(1, 2)], rel=1e-9)  # CTCLoss sums paths too


def test_beam_beats_greedy_when_paths_share_a_sequence():
    # The best path is blank, blank (.36), but the paths to "1" (1-blank, blank-1, 1-1) sum to .64.
    log_probs = torch.tensor([[.6, .4], [.6, .4]]).log()
    assert ctc.greedy_decode(log_probs) == []
    assert ctc.beam_decode(log_probs, beam_width=4) == [1]


def test_edit_distance_known_answers():
    assert ctc.edit_distance("kitten", "sitting") == 3
    assert ctc.edit_distance([1, 2, 3], []) == 3 and ctc.edit_distance([], [4, 5]) == 2
    assert ctc.edit_distance([1, 2, 3, 4], [1, 3, 4, 4]) == 2
    assert ctc.error_rate([[1, 2], [3, 4, 5, 6]], [[1, 2], [3, 5, 6]]) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="2 references but 1"):
        ctc.error_rate([[1], [2]], [[1]])


def test_edit_distance_equals_nltk():
    nltk = pytest.importorskip("nltk")  # the bench extra
    rng = random.Random(0)
    for _ in range(200):
        a = [rng.randrange(4) for _ in range(rng.randrange(8))]
        b = [rng.randrange(4) for _ in range(rng.randrange(8))]
        assert ctc.edit_distance(a, b) == nltk.edit_distance(a, b)


# --- Connected utterances and models ------------------------------------------------------------

def toy_recordings():
    return [speech.Recording(d, s, t, torch.full((400 + 10 * d,), 0.1 * (d + 1)))
            for s in ("a", "b") for d in range(10) for t in range(3)]


def test_connected_utterances_join_one_speakers_recordings():
    rng = random.Random(0)
    utterances = speech.connected_utterances(toy_recordings(), 50, rng)
    for samples, digits in utterances:
        assert 2 <= len(digits) <= 7
        gaps_max = (len(digits) + 1) * 0.3 * speech.SAMPLE_RATE
        speech_length = sum(400 + 10 * d for d in digits)
        assert speech_length < len(samples) <= speech_length + gaps_max
    samples, digits = speech.join_recordings(toy_recordings()[:2], random.Random(1), gap_seconds=(0.1, 0.1))
    assert len(samples) == 3 * 800 + 2 * 400 and digits == [0, 0]


def test_encoder_ignores_padding_and_shapes():
    torch.manual_seed(0)
    model = asr.CTCRecognizer(num_features=40, hidden_size=16, num_layers=2, stride=4).eval()
    short, long = torch.randn(22, 40), torch.randn(37, 40)
    features, lengths = speech.pad_batch([short, long])
    log_probs, out_lengths = model(features, lengths)
    assert log_probs.shape == (2, 10, 11) and out_lengths.tolist() == [6, 10]
    alone, _ = model(short[None], torch.tensor([22]))
    torch.testing.assert_close(log_probs[0, :6], alone[0], rtol=1e-5, atol=1e-6)
    classifier = asr.DigitClassifier(hidden_size=16).eval()
    torch.testing.assert_close(classifier(features, lengths)[0], classifier(short[None], torch.tensor([22]))[0],
                               rtol=1e-5, atol=1e-6)


def test_ctc_loss_and_transcribe_on_a_batch():
    torch.manual_seed(0)
    utterances = speech.connected_utterances(toy_recordings(), 4, random.Random(0))
    model = asr.CTCRecognizer(hidden_size=16)
    batch = asr.ctc_batch(utterances)
    assert batch[2].min() >= 1 and batch[3].tolist() == [len(d) for _, d in utterances]
    loss = asr.ctc_loss(model, batch)
    assert loss.ndim == 0 and loss.item() > 0
    heard = asr.transcribe(model, utterances, beam_width=3)
    assert len(heard) == 4 and all(0 <= d <= 9 for digits in heard for d in digits)


def test_speech_errors_name_the_problem():
    with pytest.raises(ValueError, match="not an FSDD recording name"):
        speech.parse_name("hello.wav")
    with pytest.raises(ValueError, match="No recordings of speaker 'zed'"):
        speech.held_out_speaker_split(toy_recordings(), "zed")
